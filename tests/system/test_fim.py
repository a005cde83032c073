"""File integrity monitoring: real-time change kinds with their actor, hard links,
editor saves, bursts, monitoring gaps, tampered baselines, odd names, CLI."""
import base64, hashlib, json, os, subprocess, sys, time

from vigiltest import VIGIL, Daemon, check, helper, mount_tmpfs, policy, run, tmpdir

PY = sys.executable


def fim_policy(watch, **kw):
    fim = {"enabled": True, "quiet_ms": 300, "watch": watch}
    fim.update(kw)
    # only the test tree: the default critical set would be baselined by every test
    return policy(fim=fim)


def wait_monitoring(vd, timeout=60):
    deadline = time.time() + timeout
    st = None
    while time.time() < deadline:
        r = vd.vigil("fim", "status", "--json")
        if r.returncode == 0:
            st = json.loads(r.stdout)
            if st["state"] == "monitoring" and "job" not in st:
                return st
        time.sleep(0.2)
    raise AssertionError(f"FIM not monitoring after {timeout}s: {st}")


def fim_alerts(vd, path=None, rule=None):
    out = []
    for a in vd.alerts():
        f = a.get("fim")
        if not f or (rule and a["rule"] != rule):
            continue
        if path is not None and f.get("path") != path:
            continue
        out.append(a)
    return out


def wait_fim(vd, path, kind=None, rule="fim_change", timeout=10, after=0):
    """The first FIM alert on path (of kind) beyond the first `after` ones."""
    def pred(a):
        return (a["rule"] == rule and a["fim"]["path"] == path and
                (kind is None or a["fim"]["kind"] == kind))
    deadline = time.time() + timeout
    while True:
        hits = [a for a in vd.alerts() if a.get("fim") and pred(a)]
        if len(hits) > after:
            return hits[after]
        if time.time() > deadline:
            seen = [(a["rule"], a["fim"].get("path"), a["fim"].get("kind")) for a in vd.alerts() if a.get("fim")]
            raise AssertionError(f"no {rule} alert for {path!r} kind {kind} within {timeout}s; FIM alerts seen: {seen}")
        time.sleep(0.05)


def check_actor(a, pid, what):
    p = a.get("process") or {}
    check(p.get("pid") == pid, f"{what}: actor pid", pid, p.get("pid"))
    check(p.get("user") == "root", f"{what}: actor user", "root", p.get("user"))
    check(p.get("exe"), f"{what}: actor exe present", "an exe path", p.get("exe"))


def sh(cmd):
    return run(["/bin/sh", "-c", cmd])


def tree():
    """A tmpfs with a watched directory w/ and an unwatched out/ on the same filesystem."""
    m = mount_tmpfs()
    w = os.path.join(m, "w")
    os.makedirs(os.path.join(w, "sub"))
    os.makedirs(os.path.join(m, "out"))
    for name, data in [("passwd", "root:x:0:0\n"), ("conf", "a=1\n"), ("bin", "#!/bin/sh\n"),
                       ("big", "x" * 100000), ("sub/nested", "n\n"), ("victim", "v\n")]:
        with open(os.path.join(w, name), "w") as f:
            f.write(data)
    os.symlink("passwd", os.path.join(w, "lnk"))
    return m, w


def test_fim_realtime_change_kinds():
    m, w = tree()
    with Daemon(fim_policy([{"path": w, "severity": "medium"}])) as vd:
        wait_monitoring(vd)
        P = lambda n: os.path.join(w, n)

        # in-place write
        p = sh(f"echo more >> {P('conf')}")
        a = wait_fim(vd, P("conf"), "modified")
        check_actor(a, p.pid, "append")
        check("sha256" in a["fim"]["changes"] and "size" in a["fim"]["changes"], "append changes",
              "sha256 and size", a["fim"]["changes"])

        # truncate
        p = run(["truncate", "-s", "10", P("big")])
        a = wait_fim(vd, P("big"), "modified")
        check_actor(a, p.pid, "truncate")
        check(a["fim"]["changes"]["size"] == {"before": 100000, "after": 10}, "truncate size",
              {"before": 100000, "after": 10}, a["fim"]["changes"].get("size"))

        # writable shared mmap
        p = run([PY, "-c", "import mmap,os,sys\nfd=os.open(sys.argv[1],os.O_RDWR)\n"
                 "m=mmap.mmap(fd,0)\nm[0:1]=b'Z'\nm.flush()\nm.close()\nos.close(fd)", P("victim")])
        a = wait_fim(vd, P("victim"), "modified")
        check_actor(a, p.pid, "mmap write")
        check("mmap_write" in a["fim"]["operations"], "mmap operation", "mmap_write", a["fim"]["operations"])

        # chmod only: hash marked unchanged
        p = run(["chmod", "0600", P("passwd")])
        a = wait_fim(vd, P("passwd"), "metadata")
        check_actor(a, p.pid, "chmod")
        check(a["fim"].get("sha256_unchanged") is True, "chmod: sha256_unchanged", True, a["fim"].get("sha256_unchanged"))
        check(a["fim"]["changes"] == {"mode": {"before": "0644", "after": "0600"}}, "chmod changes",
              "mode only", a["fim"]["changes"])

        # chown only
        p = run(["chown", "1:1", P("passwd")])
        a = wait_fim(vd, P("passwd"), "metadata", after=1)
        check_actor(a, p.pid, "chown")
        check(set(a["fim"]["changes"]) == {"uid", "gid"}, "chown changes", {"uid", "gid"}, set(a["fim"]["changes"]))

        # setuid bit: high
        p = run(["chmod", "4755", P("bin")])
        a = wait_fim(vd, P("bin"), "metadata")
        check_actor(a, p.pid, "setuid")
        check(a["severity"] == "high", "setuid severity", "high", a["severity"])
        check(a["mitre"]["technique"] == "T1548.001", "setuid technique", "T1548.001", a["mitre"]["technique"])

        # xattr / capability
        p = run(["setfattr", "-n", "security.capability", "-v",
                 "0x0100000200200000000000000000000000000000", P("bin")])
        a = wait_fim(vd, P("bin"), "metadata", after=1)
        check_actor(a, p.pid, "setcap")
        check("security.capability" in (a["fim"]["changes"].get("xattrs", {}).get("after") or ""),
              "capability xattr after", "security.capability=...", a["fim"]["changes"].get("xattrs"))

        # symlink retarget (ln -sfn replaces the link)
        p = run(["ln", "-sfn", "conf", P("lnk")])
        a = wait_fim(vd, P("lnk"))
        check(a["fim"]["changes"].get("link") == {"before": "passwd", "after": "conf"}, "symlink target",
              {"before": "passwd", "after": "conf"}, a["fim"]["changes"].get("link"))
        check(a["process"]["exe"].endswith("/ln"), "symlink actor exe", "…/ln", a["process"]["exe"])

        # delete, then recreate
        p = run(["rm", P("sub/nested")])
        a = wait_fim(vd, P("sub/nested"), "deleted")
        check_actor(a, p.pid, "delete")
        p = sh(f"echo back > {P('sub/nested')}")
        a = wait_fim(vd, P("sub/nested"), "added")
        check_actor(a, p.pid, "recreate")

        # create in a watched directory
        p = sh(f"echo new > {P('created')}")
        a = wait_fim(vd, P("created"), "added")
        check_actor(a, p.pid, "create")

        # hard link created inside the tree
        p = run(["ln", P("conf"), P("conf.link")])
        a = wait_fim(vd, P("conf.link"), "added")
        check_actor(a, p.pid, "hard link inside")
        check(P("conf") in a["fim"].get("hard_links", []), "hard_links names the other name", P("conf"),
              a["fim"].get("hard_links"))


def test_fim_io_uring_changes():
    """Changes made only through io_uring (no open/write/rename/unlink syscalls) are
    detected in real time and attributed to the submitting process."""
    m, w = tree()
    U = os.path.realpath(helper("uring_ops"))
    with Daemon(fim_policy([{"path": w, "severity": "medium"}])) as vd:
        wait_monitoring(vd)
        P = lambda n: os.path.join(w, n)

        def uring(*args):
            p = run([U] + list(args), stdout=subprocess.PIPE, text=True)
            out = p.stdout.read()
            check(p.returncode == 0 and out.endswith("ok\n"), f"uring_ops {args[0]}", "ok", out)
            return p

        def expect(path, kind, p, what):
            a = wait_fim(vd, path, kind)
            check_actor(a, p.pid, what)
            check(a["process"]["exe"] == U, f"{what}: actor exe", U, a["process"]["exe"])
            check("io_uring" in a["fim"]["operations"], f"{what}: operation", "io_uring", a["fim"]["operations"])
            return a

        p = uring("write", P("conf"), "changed\n")
        a = expect(P("conf"), "modified", p, "io_uring write")
        check(a["fim"]["changes"]["sha256"]["after"] == hashlib.sha256(b"changed\n").hexdigest(),
              "io_uring write: new sha256", hashlib.sha256(b"changed\n").hexdigest(), a["fim"]["changes"]["sha256"])
        p = uring("write", P("dropped"), "payload\n")
        expect(P("dropped"), "added", p, "io_uring create")
        p = uring("rename", P("victim"), P("moved"))
        expect(P("victim"), "deleted", p, "io_uring rename (old name)")
        expect(P("moved"), "added", p, "io_uring rename (new name)")
        p = uring("unlink", P("sub/nested"))
        expect(P("sub/nested"), "deleted", p, "io_uring unlink")
        p = uring("mkdir", P("newdir"))
        expect(P("newdir"), "added", p, "io_uring mkdir")
        # outside the watched tree: nothing
        uring("write", os.path.join(m, "out", "x"), "y\n")
        time.sleep(1)
        check(not [a for a in fim_alerts(vd) if "/out/" in a["fim"]["path"]], "nothing outside the tree", [],
              [a["fim"]["path"] for a in fim_alerts(vd) if "/out/" in a["fim"]["path"]])


def test_fim_hard_link_outside_tree():
    m, w = tree()
    outside = os.path.join(m, "out", "alias")
    with Daemon(fim_policy([{"path": w}])) as vd:
        wait_monitoring(vd)
        target = os.path.join(w, "passwd")
        p = run(["ln", target, outside])
        a = wait_fim(vd, target, None, rule="fim_hardlink")
        check_actor(a, p.pid, "hard link outside")
        check(a["fim"]["link"] == outside, "hardlink: new name", outside, a["fim"].get("link"))
        vd.settle(0.5)
        # a write through the outside name is a change of the watched file
        p = sh(f"echo 'evil:x:0:0' >> {outside}")
        a = wait_fim(vd, target, "modified")
        check_actor(a, p.pid, "write through outside hard link")
        check(a["fim"].get("written_through") == outside, "written_through", outside, a["fim"].get("written_through"))


def test_fim_editor_rename_save():
    m, w = tree()
    target = os.path.join(w, "conf")
    with Daemon(fim_policy([{"path": w}])) as vd:
        wait_monitoring(vd)
        ino = os.stat(target).st_ino
        # the way editors save: temp file, fsync, rename over the target
        code = ("import os,sys\nt=sys.argv[1]\ntmp=os.path.join(os.path.dirname(t),'.conf.swp')\n"
                "f=open(tmp,'w');f.write('a=2\\n');f.flush();os.fsync(f.fileno());f.close()\n"
                "os.chmod(tmp,0o644)\nos.rename(tmp,t)")
        p = run([PY, "-c", code, target])
        a = wait_fim(vd, target, "replaced")
        check_actor(a, p.pid, "rename save")
        ch = a["fim"]["changes"]
        check(ch.get("inode", {}).get("before") == ino, "inode before", ino, ch.get("inode"))
        check(ch.get("inode", {}).get("after") == os.stat(target).st_ino, "inode after",
              os.stat(target).st_ino, ch.get("inode"))
        check("sha256" in ch, "content change reported", "sha256 in changes", ch)
        vd.settle(1.0)
        tmp_alerts = fim_alerts(vd, os.path.join(w, ".conf.swp"))
        check(not tmp_alerts, "no alert for the editor's temp file", [], tmp_alerts)
        check(len(fim_alerts(vd, target)) == 1, "one alert for the save", 1, len(fim_alerts(vd, target)))


def test_fim_burst_coalesced():
    m = mount_tmpfs()
    w = os.path.join(m, "w")
    os.makedirs(w)
    n, writes = 250, 4
    for i in range(n):
        with open(os.path.join(w, f"f{i}"), "w") as f:
            f.write("start\n")
    with Daemon(fim_policy([{"path": w}])) as vd:
        wait_monitoring(vd)
        p = run([helper("fim_burst"), w, str(n), str(writes)])
        check(p.returncode == 0, "fim_burst exit", 0, p.returncode)
        deadline = time.time() + 30
        while time.time() < deadline:
            got = {a["fim"]["path"] for a in fim_alerts(vd, rule="fim_change")}
            if len(got) >= n:
                break
            time.sleep(0.2)
        vd.settle(1.5)
        al = fim_alerts(vd, rule="fim_change")
        per = {}
        for a in al:
            per.setdefault(a["fim"]["path"], []).append(a)
        missing = [f"f{i}" for i in range(n) if os.path.join(w, f"f{i}") not in per]
        check(not missing, f"every one of {n * writes} changes reported", "no file missing", missing[:10])
        dup = {k: len(v) for k, v in per.items() if len(v) != 1}
        check(not dup, "one alert per file (coalesced)", "1 each", dup)
        for a in al:
            check(a["process"]["pid"] == p.pid, "burst actor", p.pid, a["process"]["pid"])
        total = sum(a["fim"]["events"] for a in al)
        check(total == n * writes, "events coalesced into the alerts", n * writes, total)
test_fim_burst_coalesced.timeout = 180


def restart(vd):
    open(vd.stderr_path, "w").close()
    vd.start(ready_timeout=90)


def test_fim_offline_gap():
    m, w = tree()
    with Daemon(fim_policy([{"path": w}])) as vd:
        wait_monitoring(vd)
        check(vd.stop() == 0, "vigild exit status", 0, vd.proc.returncode)
        stopped = time.time()
        with open(os.path.join(w, "conf"), "a") as f:
            f.write("offline\n")
        os.unlink(os.path.join(w, "victim"))
        with open(os.path.join(w, "added"), "w") as f:
            f.write("x\n")
        os.chmod(os.path.join(w, "bin"), 0o700)
        restart(vd)
        got = {}
        for name, kind in [("conf", "modified"), ("victim", "deleted"), ("added", "added"), ("bin", "metadata")]:
            a = wait_fim(vd, os.path.join(w, name), kind, rule="fim_offline_change", timeout=30)
            check(a["process"] is None, f"{name}: process", None, a["process"])
            check(a.get("actor") == "unknown (monitoring gap)", f"{name}: actor", "unknown (monitoring gap)", a.get("actor"))
            gap = a["fim"]["gap"]
            check(gap["from"] < gap["to"], f"{name}: gap range", "from < to", gap)
            got[name] = a
        # the gap starts when the first daemon stopped
        frm = time.mktime(time.strptime(got["conf"]["fim"]["gap"]["from"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        check(abs(frm - stopped) < 30, "gap starts at the stop", stopped, frm)
        # nothing is re-baselined silently: a second restart reports nothing new, check still differs
        vd.stop()
        restart(vd)
        wait_monitoring(vd)
        vd.settle(1.0)
        check(len(fim_alerts(vd, rule="fim_offline_change")) == 4, "no repeated gap alerts", 4,
              len(fim_alerts(vd, rule="fim_offline_change")))
        r = vd.vigil("fim", "check")
        check(r.returncode == 1, "vigil fim check exit with differences", 1, (r.returncode, r.stdout, r.stderr))
test_fim_offline_gap.timeout = 300


def test_fim_tampered_baseline():
    m, w = tree()
    with Daemon(fim_policy([{"path": w}])) as vd:
        wait_monitoring(vd)
        vd.stop()
        db = os.path.join(vd.state_dir, "fim.db")
        # local check with an intact baseline: no differences
        r = vd.vigil("fim", "check", "--local", "--policy", vd.policy_path, "--state-dir", vd.state_dir)
        check(r.returncode == 0, "check on an intact baseline", 0, (r.returncode, r.stdout, r.stderr))
        with open(db, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0x01
            f.seek(0)
            f.write(data)
        r = vd.vigil("fim", "check", "--local", "--policy", vd.policy_path, "--state-dir", vd.state_dir)
        check(r.returncode == 1 and "failed authentication" in r.stderr, "check on a tampered baseline",
              "exit 1, failed authentication", (r.returncode, r.stderr))
        restart(vd)
        a = wait_fim(vd, db, None, rule="fim_baseline_tampered", timeout=30)
        check(a["severity"] == "high", "tamper alert severity", "high", a["severity"])
        aside = [n for n in os.listdir(vd.state_dir) if n.startswith("fim.db.tampered-")]
        check(len(aside) == 1, "tampered baseline kept aside", 1, os.listdir(vd.state_dir))
        # truncated
        wait_monitoring(vd)
        vd.stop()
        with open(db, "r+b") as f:
            f.truncate(os.path.getsize(db) - 7)
        r = vd.vigil("fim", "check", "--local", "--policy", vd.policy_path, "--state-dir", vd.state_dir)
        check(r.returncode == 1 and "failed authentication" in r.stderr, "check on a truncated baseline",
              "exit 1", (r.returncode, r.stderr))
        # another host: a valid baseline read under another host name (a UTS namespace)
        r = vd.vigil("fim", "baseline", "--local", "--policy", vd.policy_path, "--state-dir", vd.state_dir)
        check(r.returncode == 0, "local baseline", 0, (r.returncode, r.stderr))
        logged = [x for x in vd.alerts() if x["rule"] == "fim_baseline_accepted" and x["fim"]["operation"] == "baseline"]
        check(len(logged) == 1, "a local baseline rebuild is logged", 1, len(logged))
        r = subprocess.run(["unshare", "-u", "sh", "-c", 'hostname vigil-other-host && exec "$@"', "sh",
                            VIGIL, "fim", "check", "--local", "--policy", vd.policy_path,
                            "--state-dir", vd.state_dir], capture_output=True, text=True, timeout=60)
        check(r.returncode == 1 and "another host" in r.stderr, "baseline from another host refused",
              "exit 1, another host", (r.returncode, r.stderr))
test_fim_tampered_baseline.timeout = 300


def test_fim_odd_names_and_cli():
    m, w = tree()
    nl = os.path.join(w, "new\nline")
    bad = os.path.join(w.encode(), b"bad\xff\xfename")
    with open(nl, "w") as f:
        f.write("1\n")
    with open(bad, "w") as f:
        f.write("1\n")
    with Daemon(fim_policy([{"path": w}, {"path": os.path.join(m, "later")}])) as vd:
        st = wait_monitoring(vd)
        r = vd.vigil("fim", "check")
        check(r.returncode == 0, "check with no change", 0, (r.returncode, r.stdout, r.stderr))
        warns = " ".join(st.get("last_job", {}).get("warnings", []))
        check("later" in warns and "watched when it appears" in warns, "missing spec path warned",
              "…later… watched when it appears", warns)

        p = sh(f"echo 2 >> '{nl}'")
        a = wait_fim(vd, nl, "modified")
        check_actor(a, p.pid, "newline name")
        p = run([PY, "-c", "import sys,os\nopen(os.fsencode(sys.argv[1]),'a').write('2')", os.fsdecode(bad)])
        hits = []
        deadline = time.time() + 10
        while not hits and time.time() < deadline:
            hits = [a for a in fim_alerts(vd, rule="fim_change")
                    if base64.b64decode(a["fim"].get("path_b64", "")) == bad]
            time.sleep(0.1)
        check(hits, "alert for the invalid UTF-8 name with the exact bytes", bad, [a["fim"].get("path") for a in fim_alerts(vd)])
        check_actor(hits[0], p.pid, "invalid UTF-8 name")

        # a watched path that appears later
        os.makedirs(os.path.join(m, "later"))
        p = sh(f"echo x > {os.path.join(m, 'later', 'f')}")
        a = wait_fim(vd, os.path.join(m, "later", "f"), "added")
        check_actor(a, p.pid, "spec path created later")

        # check reports, accept is logged and makes the state the baseline
        r = vd.vigil("fim", "check")
        check(r.returncode == 1 and "new\\nline" in r.stdout, "check lists differences", "exit 1, new\\nline",
              (r.returncode, r.stdout))
        r = vd.vigil("fim", "accept", nl)
        check(r.returncode == 0, "accept exit", 0, (r.returncode, r.stderr))
        vd.wait_alert(lambda x: x["rule"] == "fim_baseline_accepted", what="fim_baseline_accepted")
        acc = [x for x in vd.alerts() if x["rule"] == "fim_baseline_accepted"]
        check(acc and acc[0]["fim"]["paths"] == [nl], "accept logged with its paths", [nl], acc and acc[0]["fim"])
        check(acc[0]["fim"]["requested_by"]["uid"] == 0, "accept logged with who asked", 0, acc[0]["fim"].get("requested_by"))
        r = vd.vigil("fim", "accept", "--all")
        check(r.returncode == 0, "accept --all exit", 0, (r.returncode, r.stderr))
        r = vd.vigil("fim", "check")
        check(r.returncode == 0, "check after accept --all", 0, (r.returncode, r.stdout))
test_fim_odd_names_and_cli.timeout = 240


def test_fim_policy_reload_extends_scope():
    m, w = tree()
    extra = os.path.join(m, "out")
    with open(os.path.join(extra, "kept"), "w") as f:
        f.write("k\n")
    with Daemon(fim_policy([{"path": w}])) as vd:
        wait_monitoring(vd)
        with open(vd.policy_path, "w") as f:
            json.dump(fim_policy([{"path": w}, {"path": extra}]), f)
        vd.proc.send_signal(1)   # SIGHUP: reload
        a = vd.wait_alert(lambda x: x["rule"] == "fim_scope_extended", timeout=20, what="fim_scope_extended")
        check(a["fim"]["watch"] == [extra], "extended spec", [extra], a["fim"]["watch"])
        check(a["fim"]["entries_added"] == 2, "names baselined (dir + file)", 2, a["fim"]["entries_added"])
        p = sh(f"echo more >> {os.path.join(extra, 'kept')}")
        a = wait_fim(vd, os.path.join(extra, "kept"), None)
        check(a["fim"]["kind"] == "modified", "a change under the new spec", "modified", a["fim"]["kind"])
        check_actor(a, p.pid, "change under the new spec")
        vd.stop()
        restart(vd)
        wait_monitoring(vd)
        vd.settle(1.0)
        gap = fim_alerts(vd, rule="fim_offline_change")
        check(not gap, "no gap alerts for the newly baselined spec", [], [(x["fim"]["path"], x["fim"]["kind"]) for x in gap])
test_fim_policy_reload_extends_scope.timeout = 240


def test_fim_state_dir_tampering():
    m, w = tree()
    vd = Daemon(policy(), start=False)
    os.makedirs(vd.state_dir)
    with open(vd.policy_path, "w") as f:
        json.dump(fim_policy([{"path": w}, {"path": vd.state_dir}]), f)
    vd.start()
    wait_monitoring(vd)
    db = os.path.join(vd.state_dir, "fim.db")
    p = sh(f"echo x >> {db}")
    a = wait_fim(vd, db, None, rule="fim_state_tampered")
    check_actor(a, p.pid, "state tampering")
    check(a["severity"] == "high", "state tampering severity", "high", a["severity"])
    # vigild's own writes there (the drift record after a change) are never reported
    sh(f"echo y >> {os.path.join(w, 'conf')}")
    wait_fim(vd, os.path.join(w, "conf"), "modified")
    vd.settle(1.5)
    own = [x for x in vd.alerts() if x["rule"] == "fim_state_tampered" and x["fim"]["path"] != db]
    check(not own, "no alert for vigild's own state writes", [], [x["fim"] for x in own])
    vd.stop()


class ContainerDaemon(Daemon):
    """vigild the way the DaemonSet runs it: in its own mount namespace, the node's / bound
    at a host root, and its own view of the node's paths different from the node's (here a
    decoy tmpfs over the watched tree).  The namespace and its mounts die with vigild."""

    def __init__(self, pol, host_root, decoy_over, **kw):
        self.host_root, self.decoy_over = host_root, decoy_over
        super().__init__(pol, args=["--host-root", host_root], **kw)

    def cmdline(self):
        script = ('set -e; mount --rbind / "$1"; mount -t tmpfs decoy "$2"; '
                  'mkdir -p "$3"; echo decoy > "$3/conf"; shift 3; exec "$@"')
        return (["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                 self.host_root, self.decoy_over, os.path.join(self.decoy_over, "w")] + super().cmdline())


def test_fim_through_host_root():
    """--host-root: FIM baselines and re-reads the node's files below the host root, the file
    sensor watches the node's inodes, and alerts name the node's paths, even though vigild's
    own view of the same path (a decoy) differs."""
    m, w = tree()
    root = tmpdir("vigil-fim-hostroot-")
    conf = os.path.join(w, "conf")
    with ContainerDaemon(fim_policy([{"path": w, "severity": "medium"}]), root, m) as vd:
        st = wait_monitoring(vd)
        n = st["baseline"]["entries"]
        check(n >= 9, "baseline holds the node's tree (the decoy has 2 names)", ">= 9 names", n)
        # vigild's own view is the decoy: the host root is what it must read
        r = subprocess.run(["nsenter", "-t", str(vd.proc.pid), "-m", "cat", conf],
                           capture_output=True, text=True, timeout=10)
        check(r.stdout == "decoy\n", "vigild's own view of the path is the decoy", "decoy", r.stdout)

        p = sh(f"echo a=2 > {conf}")
        a = wait_fim(vd, conf, "modified")
        check_actor(a, p.pid, "write on the node")
        sha = a["fim"]["changes"].get("sha256", {})
        want_before = hashlib.sha256(b"a=1\n").hexdigest()
        want_after = hashlib.sha256(b"a=2\n").hexdigest()
        check(sha.get("before") == want_before, "sha256 before is the node's baseline content",
              want_before, sha.get("before"))
        check(sha.get("after") == want_after, "sha256 after is the node's new content", want_after, sha.get("after"))

        new = os.path.join(w, "sub", "added")
        sh(f"echo new > {new}")
        a = wait_fim(vd, new, "added")
        check(a["fim"]["path"] == new, "added: the node's path", new, a["fim"]["path"])

        # an on-demand check reads the node too: the tree matches the accepted state
        r = vd.vigil("fim", "check", "--json", timeout=60)
        check(r.returncode == 1, "vigil fim check: differences", 1, (r.returncode, r.stderr))
        diffs = {d["path"]: d["kind"] for d in json.loads(r.stdout)["differences"]}
        want = {conf: "modified", new: "added"}
        check(diffs == want, "check compares the node's tree with the baseline", want, diffs)
