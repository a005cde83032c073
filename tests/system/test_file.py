"""File sensor: every successful change under a watched directory is reported
once with the canonical path the kernel resolved, the inode and the actor;
unwatched and read-only activity is not.

Each test mounts a private tmpfs, watches a directory in it, starts a real
vigild, does the real syscall (Python's os.* is a thin syscall wrapper; the
file_ops helper does the ones Python cannot) and asserts the exact record.
"""
import base64, mmap, os, subprocess, sys

from vigiltest import Daemon, policy, check, run, helper, mount_tmpfs, on_cleanup

PY_EXE = os.path.realpath(sys.executable)


class Env:
    """A tmpfs with a watched directory w and an unwatched one u, and a vigild."""

    def __init__(self):
        self.mnt = os.path.realpath(mount_tmpfs())
        self.w = os.path.join(self.mnt, "w")
        self.u = os.path.join(self.mnt, "u")
        os.mkdir(self.w)
        os.mkdir(self.u)
        pol = policy(sensors={"exec": True, "file": True, "network": False},
                     file={"watch": [self.w]},
                     telemetry={"exec": False, "fork_exit": False, "file": True, "network": False})
        self.vd = Daemon(pol)

    def files(self):
        return [e for e in self.vd.events() if e.get("type") == "file"]

    def wait(self, op, path, what=None, **extra):
        """The first file record with this op and path (and extra file fields)."""
        def pred(e):
            f = e["file"]
            return (e.get("type") == "file" and f["op"] == op and f["path"] == path and
                    all(f.get(k) == v for k, v in extra.items()))
        try:
            return self.vd.wait_event(pred, timeout=10, what=what or f"{op} {path!r}")
        except AssertionError:
            seen = [(e["file"]["op"], e["file"]["path"]) for e in self.files()]
            raise AssertionError(f"no {op} record for {path!r}; file records seen: {seen}")


def expect(ev, **want):
    f = ev["file"]
    for k, v in want.items():
        check(f.get(k) == v, f"file.{k}", v, f.get(k))


def expect_actor(ev, pid, exe):
    p = ev["process"]
    check(p.get("pid") == pid, "process.pid", pid, p.get("pid"))
    check(p.get("exe") == exe, "process.exe", exe, p.get("exe"))


def expect_inode(ev, path):
    st = os.lstat(path)
    expect(ev, ino=st.st_ino, dev=(os.major(st.st_dev) << 20) | os.minor(st.st_dev))


def chdir_for_test(d):
    old = os.getcwd()
    os.chdir(d)
    on_cleanup(lambda: os.chdir(old))


def test_openat_dirfd_relative_from_other_cwd():
    env = Env()
    os.mkdir(os.path.join(env.w, "sub"))
    p = run([helper("file_ops"), "openat", os.path.join(env.w, "sub"), "new.conf"])
    check(p.returncode == 0, "file_ops openat exit", 0, p.returncode)
    path = os.path.join(env.w, "sub", "new.conf")
    ev = env.wait("open_write", path)
    expect_actor(ev, p.pid, helper("file_ops"))
    expect_inode(ev, path)
    expect(ev, created=True, type="file", mode="0640", nlink=1)
    check(ev["file"]["open_flags"] & os.O_ACCMODE == os.O_WRONLY, "open_flags & O_ACCMODE",
          os.O_WRONLY, ev["file"]["open_flags"] & os.O_ACCMODE)


def test_open_creat_and_trunc_flags():
    env = Env()
    path = os.path.join(env.w, "c.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    ev = env.wait("open_write", path)
    expect_actor(ev, os.getpid(), PY_EXE)
    expect(ev, created=True, mode="0600")
    check("truncated" not in ev["file"], "no truncated flag without O_TRUNC", None, ev["file"])
    # an existing file opened with O_TRUNC: truncated, not created
    fd = os.open(path, os.O_RDWR | os.O_TRUNC)
    os.close(fd)
    ev = env.wait("open_write", path, truncated=True)
    check("created" not in ev["file"], "no created flag for an existing file", None, ev["file"])
    expect_inode(ev, path)


def test_rename_over_existing():
    env = Env()
    src, dst = os.path.join(env.w, "a.tmp"), os.path.join(env.w, "passwd")
    with open(src, "w") as f:
        f.write("new")
    with open(dst, "w") as f:
        f.write("old")
    old_ino, new_ino = os.stat(dst).st_ino, os.stat(src).st_ino
    p = run([helper("file_ops"), "renameat2", env.w, "a.tmp", "passwd"])
    check(p.returncode == 0, "file_ops renameat2 exit", 0, p.returncode)
    ev = env.wait("rename", src)
    expect_actor(ev, p.pid, helper("file_ops"))
    expect(ev, path2=dst, ino=new_ino, old_ino=old_ino, type="file")
    # a rename into the watched directory from outside is reported too (path2 watched)
    outside = os.path.join(env.u, "dropped")
    with open(outside, "w") as f:
        f.write("x")
    os.rename(outside, os.path.join(env.w, "dropped"))
    ev = env.wait("rename", outside)
    expect(ev, path2=os.path.join(env.w, "dropped"))
    check("old_ino" not in ev["file"], "no old_ino when nothing was replaced", None, ev["file"])


def test_unlink():
    env = Env()
    path = os.path.join(env.w, "gone")
    with open(path, "w") as f:
        f.write("x")
    ino = os.stat(path).st_ino
    p = run([helper("file_ops"), "unlinkat", env.w, "gone"])
    check(p.returncode == 0, "file_ops unlinkat exit", 0, p.returncode)
    ev = env.wait("unlink", path)
    expect_actor(ev, p.pid, helper("file_ops"))
    expect(ev, ino=ino, nlink=0, type="file")


def test_chmod_and_fchmodat2():
    env = Env()
    path = os.path.join(env.w, "m")
    with open(path, "w") as f:
        f.write("x")
    os.chmod(path, 0o4755)
    ev = env.wait("chmod", path)
    expect_actor(ev, os.getpid(), PY_EXE)
    expect(ev, new_mode="4755", mode="4755")
    expect_inode(ev, path)
    p = run([helper("file_ops"), "fchmodat2", env.w, "m", "600"])
    check(p.returncode == 0, "file_ops fchmodat2 exit", 0, p.returncode)
    ev = env.wait("chmod", path, new_mode="0600")
    expect_actor(ev, p.pid, helper("file_ops"))
    # fchmod on an fd
    fd = os.open(path, os.O_RDONLY)
    on_cleanup(lambda: os.close(fd))
    os.fchmod(fd, 0o640)
    ev = env.wait("chmod", path, new_mode="0640")
    expect(ev, mode="0640")


def test_chown():
    env = Env()
    path = os.path.join(env.w, "o")
    with open(path, "w") as f:
        f.write("x")
    os.chown(path, 1234, 5678)
    ev = env.wait("chown", path)
    expect_actor(ev, os.getpid(), PY_EXE)
    expect(ev, new_uid=1234, new_gid=5678)
    expect_inode(ev, path)
    os.chown(path, -1, 42)
    ev = env.wait("chown", path, new_gid=42)
    check("new_uid" not in ev["file"], "uid -1 means unchanged: no new_uid", None, ev["file"])


def test_truncate_and_ftruncate():
    env = Env()
    path = os.path.join(env.w, "t")
    with open(path, "w") as f:
        f.write("0123456789")
    os.truncate(path, 3)
    ev = env.wait("truncate", path)
    expect_actor(ev, os.getpid(), PY_EXE)
    expect_inode(ev, path)
    fd = os.open(path, os.O_RDONLY | os.O_PATH)
    on_cleanup(lambda: os.close(fd))
    wfd = os.open(path, os.O_WRONLY)
    on_cleanup(lambda: os.close(wfd))
    os.ftruncate(wfd, 1)

    def truncates():
        return [e for e in env.files() if e["file"]["op"] == "truncate" and e["file"]["path"] == path]
    env.vd.wait_event(lambda e: len(truncates()) >= 2, what="ftruncate record")
    ev = truncates()[1]
    expect_actor(ev, os.getpid(), PY_EXE)
    expect_inode(ev, path)


def test_mmap_shared_write():
    env = Env()
    path = os.path.join(env.w, "mapped")
    with open(path, "w") as f:
        f.write("x" * 4096)
    p = run([helper("file_ops"), "mmap", path])
    check(p.returncode == 0, "file_ops mmap exit", 0, p.returncode)
    ev = env.wait("mmap_write", path)
    expect_actor(ev, p.pid, helper("file_ops"))
    expect_inode(ev, path)
    # a private writable mapping changes nothing on disk: no record (marker follows)
    fd = os.open(path, os.O_RDONLY)
    on_cleanup(lambda: os.close(fd))
    m = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
    m.close()
    marker = os.path.join(env.w, "marker")
    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
    env.wait("open_write", marker)
    n = [e for e in env.files() if e["file"]["op"] == "mmap_write" and e["process"]["pid"] == os.getpid()]
    check(not n, "no record for MAP_PRIVATE", [], n)


def test_symlinked_dir_and_dotdot_resolve_canonical():
    env = Env()
    os.mkdir(os.path.join(env.w, "sub"))
    link = os.path.join(env.u, "to-w")          # unwatched symlink to the watched dir
    os.symlink(env.w, link)
    os.close(os.open(os.path.join(link, "sub", "..", "via-link"), os.O_WRONLY | os.O_CREAT, 0o644))
    ev = env.wait("open_write", os.path.join(env.w, "via-link"))
    expect(ev, created=True)
    # cwd-relative with .. from inside the watched tree
    chdir_for_test(os.path.join(env.w, "sub"))
    os.close(os.open("../rel", os.O_WRONLY | os.O_CREAT, 0o644))
    env.wait("open_write", os.path.join(env.w, "rel"))
    os.chmod("../../u/to-w/rel", 0o700)          # path op through the symlink
    env.wait("chmod", os.path.join(env.w, "rel"), new_mode="0700")


def test_proc_self_root():
    env = Env()
    path = os.path.join(env.w, "root-hop")
    os.close(os.open("/proc/self/root" + path, os.O_WRONLY | os.O_CREAT, 0o644))
    ev = env.wait("open_write", path)
    expect_inode(ev, path)
    # chmod through the /proc/self/fd magic link of an O_PATH fd: the inode, not the link
    fd = os.open(path, os.O_PATH)
    on_cleanup(lambda: os.close(fd))
    os.chmod(f"/proc/self/fd/{fd}", 0o640)
    env.wait("chmod", path, new_mode="0640")
    os.unlink("/proc/self/root" + path)
    env.wait("unlink", path)


def test_odd_bytes_in_name():
    env = Env()
    name = b"odd\nname\x80\x1b.txt"
    raw = os.fsencode(env.w) + b"/" + name
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    # the raw line must be one valid JSON object (records() json-parses every line)
    want = env.w + "/odd\nname\ufffd\x1b.txt"
    ev = env.wait("open_write", want)
    b64 = ev["file"].get("path_b64")
    check(b64 is not None, "path_b64 present when a byte was replaced", "base64", ev["file"])
    check(base64.b64decode(b64) == raw, "path_b64 decodes to the exact bytes", raw, base64.b64decode(b64))
    with open(os.path.join(env.vd.log_dir, "events.jsonl"), "rb") as f:
        for line in f:
            check(line.count(b"\n") == 1 and line.endswith(b"\n"), "one record per line", True, line[:200])


def test_link_and_symlink():
    env = Env()
    target = os.path.join(env.w, "orig")
    with open(target, "w") as f:
        f.write("x")
    hard = os.path.join(env.w, "hard")
    os.link(target, hard)
    ev = env.wait("link", target)
    expect(ev, path2=hard, nlink=2)
    expect_inode(ev, target)
    soft = os.path.join(env.w, "soft")
    os.symlink("../somewhere/else", soft)
    ev = env.wait("symlink", soft)
    expect(ev, path2="../somewhere/else", type="symlink")
    expect_inode(ev, soft)
    # unlinking one of two links leaves nlink 1 and names the link removed
    os.unlink(hard)
    ev = env.wait("unlink", hard)
    expect(ev, nlink=1, ino=os.stat(target).st_ino)


def test_mkdir_rmdir():
    env = Env()
    d = os.path.join(env.w, "x")
    os.mkdir(d, 0o750)
    ev = env.wait("mkdir", d)
    expect(ev, type="dir", mode="0750", nlink=2)
    expect_inode(ev, d)
    ino = os.stat(d).st_ino
    # a directory named like its parent: mkdir w/x/x, rmdir w/x/x/ (trailing slash)
    dd = os.path.join(d, "x")
    os.mkdir(dd)
    env.wait("mkdir", dd)
    os.rmdir(dd + "/")
    env.wait("rmdir", dd)
    os.rmdir(d)
    ev = env.wait("rmdir", d)
    expect(ev, ino=ino, nlink=0, type="dir")


def test_setxattr_removexattr():
    env = Env()
    path = os.path.join(env.w, "x")
    with open(path, "w") as f:
        f.write("x")
    os.setxattr(path, "user.vigil", b"1")
    ev = env.wait("setxattr", path)
    expect(ev, xattr="user.vigil")
    os.removexattr(path, "user.vigil")
    ev = env.wait("removexattr", path)
    expect(ev, xattr="user.vigil")


def test_io_uring_changes():
    """io_uring requests bypass the syscall hooks: each inode they change is one
    "io_uring" record (the file, or the directory a name was added to or removed
    from) with the submitting process as actor; unwatched ones produce nothing."""
    env = Env()
    U = helper("uring_ops")
    f = os.path.join(env.w, "f")
    with open(f, "w") as fh:
        fh.write("before\n")
    p = run([U, "write", f, "after\n"], stdout=subprocess.DEVNULL)
    check(p.returncode == 0, "uring_ops write exit", 0, p.returncode)
    ev = env.wait("io_uring", f)
    expect_actor(ev, p.pid, U)
    expect_inode(ev, f)
    expect(ev, type="file")
    p = run([U, "unlink", f], stdout=subprocess.DEVNULL)
    ev = env.wait("io_uring", env.w, what="the directory that lost a name")
    expect_actor(ev, p.pid, U)
    expect(ev, type="dir")
    run([U, "write", os.path.join(env.u, "x"), "y\n"], stdout=subprocess.DEVNULL)
    env.vd.settle()
    seen = [e["file"]["path"] for e in env.files() if e["file"]["path"].startswith(env.u)]
    check(seen == [], "nothing from the unwatched directory", [], seen)


def test_unwatched_and_read_only_produce_nothing():
    env = Env()
    existing = os.path.join(env.w, "ro")
    with open(existing, "w") as f:
        f.write("x")
    marker0 = os.path.join(env.w, "marker0")
    os.close(os.open(marker0, os.O_WRONLY | os.O_CREAT, 0o600))
    env.wait("open_write", marker0)
    start = len(env.files())
    # read-only open of a watched file, changes in the unwatched sibling
    os.close(os.open(existing, os.O_RDONLY))
    un = os.path.join(env.u, "f")
    os.close(os.open(un, os.O_WRONLY | os.O_CREAT, 0o644))
    os.chmod(un, 0o600)
    os.rename(un, un + "2")
    os.unlink(un + "2")
    os.mkdir(un)
    os.rmdir(un)
    # a failed change is not a change
    try:
        os.unlink(os.path.join(env.w, "does-not-exist"))
    except FileNotFoundError:
        pass
    marker = os.path.join(env.w, "marker")
    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
    env.wait("open_write", marker)
    extra = [(e["file"]["op"], e["file"]["path"]) for e in env.files()[start:]]
    check(extra == [("open_write", marker)], "only the marker after the start", [("open_write", marker)], extra)
