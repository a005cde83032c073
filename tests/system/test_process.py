"""Process sensor and daemon basics: real execs, real cgroups, the real vigild."""
import hashlib, json, os, shutil, signal, subprocess, time, uuid

from vigiltest import (Daemon, check, helper, on_cleanup, policy, tmpdir, ROOT, VIGILD, VIGIL as VIGIL_BIN)

TRUE = os.path.realpath("/usr/bin/true")


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _marker():
    return "vt-" + uuid.uuid4().hex[:12]


def _exec_ev(vd, marker, timeout=10, argv0=None):
    """The exec whose last argument is marker (and argv[0] is argv0 when given)."""
    return vd.wait_event(lambda e: e["type"] == "exec" and e["process"]["args"][-1] == marker and
                         (argv0 is None or e["process"]["args"][0] == argv0),
                         timeout, f"exec with {marker}")


def _bindir():
    """A private non-world-writable dir with a copy of true (so no tmp-exec alert noise)."""
    d = os.path.join("/var/lib", "vigiltest-" + uuid.uuid4().hex[:8])
    os.makedirs(d)
    on_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    shutil.copy(TRUE, os.path.join(d, "xtrue"))
    return d


def _vigil_progs():
    """Leaked programs: those unheld in three samples over a second (a daemon of another
    test may be starting or stopping during one sample)."""
    leaked = None
    for _ in range(3):
        now = set(_unheld_progs())
        leaked = now if leaked is None else leaked & now
        if not leaked:
            break
        time.sleep(0.5)
    return sorted(leaked)


def _unheld_progs():
    """vigil_* BPF programs that no process holds (by fd or link): what a dead vigild left
    attached or pinned.  Programs of live daemons (other tests, other users) are held."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True).stdout
    ids = {p["id"]: p.get("name", "") for p in json.loads(out or "[]") if p.get("name", "").startswith("vigil_")}
    held = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            held.add(int(line.split()[1]))
        except OSError:
            continue
    return sorted(n for i, n in ids.items() if i not in held and not n.startswith("vigil_jit"))


def test_execve_through_symlinked_dir_gives_real_path():
    with Daemon() as vd:
        m = _marker()
        p = subprocess.run(["/bin/true", m])   # /bin is a symlink to usr/bin on merged-usr Debian
        ev = _exec_ev(vd, m)
        pr = ev["process"]
        check(pr["exe"] == TRUE, "exe", TRUE, pr["exe"])
        check(pr["args"] == ["/bin/true", m], "args", ["/bin/true", m], pr["args"])
        check(pr["sha256"] == _sha(TRUE), "sha256", _sha(TRUE), pr.get("sha256"))
        check(pr["ppid"] == os.getpid(), "ppid", os.getpid(), pr["ppid"])
        check(pr["uid"] == 0 and pr["user"] == "root", "uid/user", (0, "root"), (pr["uid"], pr["user"]))
        check(ev["host"] and ev["time"].endswith("Z"), "host and RFC 3339 UTC time", "…Z", ev["time"])


def test_execveat_dirfd_relative():
    d = _bindir()
    with Daemon() as vd:
        m = _marker()
        subprocess.run([helper("proc_exec"), "execveat", d, "xtrue", m], cwd="/", check=True,
                       capture_output=True)
        ev = _exec_ev(vd, m, argv0="xtrue")
        want = os.path.join(d, "xtrue")
        check(ev["process"]["exe"] == want, "exe", want, ev["process"]["exe"])
        check(ev["process"]["cwd"] == "/", "cwd", "/", ev["process"]["cwd"])


def test_fexecve_empty_path():
    d = _bindir()
    with Daemon() as vd:
        m = _marker()
        subprocess.run([helper("proc_exec"), "fexecve", os.path.join(d, "xtrue"), "xtrue", m],
                       check=True, capture_output=True)
        ev = _exec_ev(vd, m, argv0="xtrue")
        check(ev["process"]["exe"] == os.path.join(d, "xtrue"), "exe", os.path.join(d, "xtrue"),
              ev["process"]["exe"])


def test_exec_via_symlink_and_relative_path_from_other_cwd():
    d = _bindir()
    link = os.path.join(d, "link-to-true")
    os.symlink("xtrue", link)
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    with Daemon() as vd:
        m1, m2 = _marker(), _marker()
        subprocess.run([link, m1], check=True)
        subprocess.run(["../xtrue", m2], cwd=sub, check=True)
        e1, e2 = _exec_ev(vd, m1), _exec_ev(vd, m2)
        want = os.path.join(d, "xtrue")
        check(e1["process"]["exe"] == want, "exe via symlink", want, e1["process"]["exe"])
        check(e2["process"]["exe"] == want, "exe via ../", want, e2["process"]["exe"])
        check(e2["process"]["cwd"] == sub, "cwd", sub, e2["process"]["cwd"])


def test_process_that_exits_at_once_is_complete():
    d = _bindir()
    exe = os.path.join(d, "xtrue")
    with Daemon() as vd:
        m = _marker()
        p = subprocess.Popen([exe, "two words", m])
        p.wait()
        ev = _exec_ev(vd, m)
        pr = ev["process"]
        check(pr["pid"] == p.pid, "pid", p.pid, pr["pid"])
        check(pr["exe"] == exe, "exe", exe, pr["exe"])
        check(pr["args"] == [exe, "two words", m], "args", [exe, "two words", m], pr["args"])
        check(pr["cmdline"] == f"{exe} two words {m}", "cmdline", f"{exe} two words {m}", pr["cmdline"])
        check(pr.get("sha256") == _sha(exe), "sha256 of a process gone before decoding", _sha(exe),
              pr.get("sha256"))


def test_memfd_exec_is_marked():
    # fileless: the content exists only while the process holds it, so this one lives a second
    sh = os.path.realpath("/bin/sh")
    with Daemon() as vd:
        m = _marker()
        subprocess.run([helper("proc_exec"), "memfd", sh, "memsh", "-c", "sleep 1", m], check=True,
                       capture_output=True)
        ev = _exec_ev(vd, m, argv0="memsh")
        pr = ev["process"]
        check(pr.get("exe_memfd") is True, "exe_memfd", True, pr.get("exe_memfd"))
        check(pr["exe"].startswith("/memfd:vigiltest"), "memfd exe path", "/memfd:vigiltest…", pr["exe"])
        check(pr.get("sha256") == _sha(sh), "memfd content hash", _sha(sh), pr.get("sha256"))


def test_orphan_keeps_original_ancestry():
    with Daemon() as vd:
        m = _marker()
        out = subprocess.run([helper("proc_exec"), "orphan", "50", TRUE, m], check=True,
                             capture_output=True, text=True).stdout.split()
        parent, child = int(out[0]), int(out[1])
        ev = _exec_ev(vd, m, argv0=TRUE)
        pr = ev["process"]
        check(pr["pid"] == child, "pid", child, pr["pid"])
        check(pr["ppid"] == parent, "original parent kept", parent, pr["ppid"])
        check(pr.get("reparented_to") not in (None, parent), "reparented_to names the adopter",
              "a pid other than the parent", pr.get("reparented_to"))
        check(any(x["pid"] == parent for x in ev["parents"]), "parent chain holds the original parent",
              parent, ev["parents"])


def test_container_id_from_cri_cgroup():
    cg_root = "/sys/fs/cgroup/unified"
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    pod = str(uuid.uuid4())
    rel = ["vigiltest-kubepods.slice", f"kubepods-besteffort-pod{pod.replace('-', '_')}.slice",
           f"cri-containerd-{cid}.scope"]
    path = cg_root
    made = []
    for r in rel:
        path = os.path.join(path, r)
        os.mkdir(path)
        made.append(path)
    on_cleanup(lambda: [os.rmdir(p) for p in reversed(made) if os.path.isdir(p)])
    with Daemon() as vd:
        m = _marker()
        subprocess.run(["/bin/sh", "-c", f'echo $$ > {path}/cgroup.procs && exec {TRUE} {m}'], check=True)
        ev = _exec_ev(vd, m)
        c = ev["container"]
        check(c is not None and c["id"] == cid, "container id", cid, c)
        check(c["runtime"] == "containerd", "runtime", "containerd", c.get("runtime"))
        check(c.get("pod_uid") == pod, "pod uid", pod, c.get("pod_uid"))


def test_exec_from_world_writable_dir_alerts_and_benign_does_not():
    d = tmpdir()   # under /tmp
    exe = os.path.join(d, "dropper")
    shutil.copy(TRUE, exe)
    with Daemon() as vd:
        m_bad, m_ok = _marker(), _marker()
        subprocess.run([exe, m_bad], check=True)
        subprocess.run([TRUE, m_ok], check=True)
        al = vd.wait_alert(lambda a: a["rule"] == "exec_world_writable" and m_bad in a["process"]["args"])
        check(al["severity"] == "medium", "severity", "medium", al["severity"])
        check(al["mitre"]["technique"] == "T1204.002", "technique", "T1204.002", al["mitre"])
        check(al["action"] == "audited", "action", "audited", al["action"])
        check(al["file"]["path"] == exe and al["file"]["directory"] == "/tmp", "file", exe, al["file"])
        check(len(al["id"]) == 32 and al["remediation"], "id and remediation", "32 hex + text", al)
        _exec_ev(vd, m_ok)
        vd.settle(0.5)
        check(not [a for a in vd.alerts() if m_ok in a.get("process", {}).get("args", [])],
              "no alert for /usr/bin/true")


def test_alert_and_event_records_match_schema():
    import jsonschema
    d = tmpdir()
    exe = os.path.join(d, "dropper2")
    shutil.copy(TRUE, exe)
    with open(os.path.join(ROOT, "policies", "alert.schema.json")) as f:
        schema = json.load(f)
    with Daemon() as vd:
        m = _marker()
        subprocess.run([exe, m], check=True)
        vd.wait_alert(lambda a: m in a["process"]["args"])
        alerts = vd.alerts()
        check(alerts, "some alerts")
        for a in alerts:
            jsonschema.validate(a, schema)


def test_odd_bytes_in_argv_and_path_are_escaped_and_recoverable():
    d = _bindir()
    odd = b"odd\nname\x80\x1b[31m"
    exe = os.path.join(d.encode(), odd)
    shutil.copy(TRUE, exe)
    with Daemon() as vd:
        m = _marker()
        subprocess.run([exe, b"arg\xff\n", m.encode()], check=True)
        ev = _exec_ev(vd, m)
        pr = ev["process"]
        import base64
        check(base64.b64decode(pr["exe_b64"]) == exe, "exe_b64 gives the exact bytes", exe, pr.get("exe_b64"))
        check(pr["exe"] == exe.decode("utf-8", "replace"), "exe keeps valid characters",
              exe.decode("utf-8", "replace"), pr["exe"])
        # every line of the log is valid JSON with no raw control bytes
        with open(os.path.join(vd.log_dir, "events.jsonl"), "rb") as f:
            for line in f:
                check(b"\x1b" not in line and b"\x80" not in line, "no raw control/invalid bytes", "", line[:80])
                json.loads(line)


def test_status_reports_capabilities_and_programs():
    with Daemon() as vd:
        st = vd.status()
        caps = st["capabilities"]
        check(caps["btf"] and caps["ringbuf"] and caps["bpffs"], "btf/ringbuf/bpffs", True, caps)
        check(caps["bpf_lsm"] is False and caps.get("bpf_lsm_error"), "BPF LSM refused and explained",
              "False + reason", caps)
        progs = {p["program"] for p in st["programs"] if p["attached"]}
        for want in ("vigil_exec", "vigil_fork", "vigil_exit"):
            check(want in progs, f"{want} attached", True, progs)
        check(st["rss_kb"] > 0 and st["bpf_map_bytes"] > 0, "memory figures", ">0", (st["rss_kb"], st["bpf_map_bytes"]))
        r = vd.vigil("status")
        check(r.returncode == 0 and "BPF LSM no" in r.stdout, "human status", "BPF LSM no", r.stdout)


def test_sigint_detaches_everything_and_exits_0():
    before = _vigil_progs()
    vd = Daemon()
    check(any(p["attached"] for p in vd.status()["programs"]), "programs attached while running")
    rc = vd.stop(signal.SIGINT)
    check(rc == 0, "exit code after SIGINT", 0, rc)
    after = _vigil_progs()
    check(set(after) <= set(before), "no program left behind", before, after)


def _start_fail(args, pol_path=None):
    p = subprocess.run([VIGILD] + args, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr.strip()


def test_bad_input_exits_2_with_one_line_and_nothing_attached():
    before = _vigil_progs()
    d = tmpdir()
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{\n  "version": 1,\n  "sensors": {"exec": "yes"}\n}\n')
    base = ["--log-dir", os.path.join(d, "log"), "--state-dir", os.path.join(d, "lib"),
            "--run-dir", os.path.join(d, "run")]
    rc, err = _start_fail(["--policy", bad] + base)
    check(rc == 2, "bad policy exit", 2, (rc, err))
    check(err.count("\n") == 0 and f"{bad}:3:" in err, "one line with file:line:col", f"{bad}:3:…", err)
    # log dir that cannot be a directory
    blocker = os.path.join(d, "afile")
    open(blocker, "w").close()
    rc, err = _start_fail(["--policy", os.path.join(ROOT, "policies", "default.json"),
                           "--log-dir", os.path.join(blocker, "log"), "--state-dir", os.path.join(d, "lib"),
                           "--run-dir", os.path.join(d, "run")])
    check(rc == 2 and "log" in err and err.count("\n") == 0, "unusable log dir", "exit 2, one line", (rc, err))
    # a second vigild on the same run dir
    vd = Daemon()
    rc, err = _start_fail(["--policy", vd.policy_path, "--log-dir", vd.log_dir, "--state-dir", vd.state_dir,
                           "--run-dir", vd.run_dir])
    check(rc == 2 and "another vigild is running" in err, "second vigild refused", "exit 2", (rc, err))
    vd.stop()
    after = _vigil_progs()
    check(set(after) <= set(before), "nothing left attached", before, after)


def test_sighup_reload_keeps_old_policy_when_bad():
    with Daemon() as vd:
        good = open(vd.policy_path).read()
        with open(vd.policy_path, "w") as f:
            f.write('{"version": 1, "bogus": 1}')
        vd.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "previous one stays in force" not in vd.stderr() and time.time() < deadline:
            time.sleep(0.1)
        check("previous one stays in force" in vd.stderr(), "bad reload reported", "…stays in force", vd.stderr())
        check(vd.proc.poll() is None, "daemon still running")
        # still working on the old policy
        m = _marker()
        subprocess.run([TRUE, m], check=True)
        _exec_ev(vd, m)
        with open(vd.policy_path, "w") as f:
            f.write(good)


def test_control_socket_checks_peer_credentials():
    import pwd
    nobody = pwd.getpwnam("nobody")
    with Daemon(policy(control={"group": None})) as vd:
        os.chmod(vd.dir, 0o755)
        os.chmod(vd.run_dir, 0o755)
        os.chmod(vd.socket, 0o666)    # even with the file open to all, the daemon checks the peer
        r = subprocess.run([VIGIL_BIN, "status", "--socket", vd.socket], capture_output=True, text=True,
                           user=nobody.pw_uid, group=nobody.pw_gid, timeout=20)
        check(r.returncode == 2 and "permission denied" in r.stderr, "non-root peer refused",
              "exit 2, permission denied", (r.returncode, r.stderr))
        check(vd.vigil("status").returncode == 0, "root accepted")


def _in_private_mounts(setup, vigild_args, timeout=60):
    """Runs vigild in a private mount namespace after the shell commands in setup."""
    import shlex
    cmd = f"mount --make-rprivate / && {setup} && exec {shlex.join([VIGILD] + vigild_args)}"
    return subprocess.Popen(["unshare", "-m", "sh", "-c", cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_missing_btf_is_refused_in_one_line():
    d = tmpdir()
    args = ["--policy", os.path.join(ROOT, "policies", "default.json"), "--log-dir", d + "/log",
            "--state-dir", d + "/lib", "--run-dir", d + "/run"]
    # hide the kernel's BTF from this vigild only (a tmpfs over /sys/kernel/btf in its own mount ns)
    p = _in_private_mounts("mount -t tmpfs none /sys/kernel/btf", args)
    on_cleanup(lambda: p.poll() is None and p.kill())
    out, err = p.communicate(timeout=60)
    check(p.returncode == 2, "exit code without BTF", 2, (p.returncode, err))
    check(err.strip().count("\n") == 0 and "BTF" in err, "one line naming BTF", "…BTF…", err)


def test_bpffs_not_mounted_is_mounted():
    d = tmpdir()
    args = ["--policy", os.path.join(ROOT, "policies", "default.json"), "--log-dir", d + "/log",
            "--state-dir", d + "/lib", "--run-dir", d + "/run"]
    # in its own mount ns /sys/fs/bpf is a plain tmpfs: vigild must mount bpffs there and run
    p = _in_private_mounts("mount -t tmpfs none /sys/fs/bpf", args)
    on_cleanup(lambda: p.poll() is None and p.kill())
    deadline = time.time() + 60
    sock = os.path.join(d, "run", "vigild.sock")
    while time.time() < deadline and p.poll() is None and not os.path.exists(sock):
        time.sleep(0.1)
    check(p.poll() is None and os.path.exists(sock), "vigild running after mounting bpffs",
          "running", p.poll())
    with open(f"/proc/{p.pid}/mounts") as f:
        bpf_mounts = [l for l in f if l.split()[1] == "/sys/fs/bpf"]
    check(bpf_mounts and bpf_mounts[-1].split()[2] == "bpf", "bpffs on /sys/fs/bpf in vigild's namespace",
          "bpf", bpf_mounts)
    r = subprocess.run([VIGIL_BIN, "status", "--json", "--socket", sock], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0 and json.loads(r.stdout)["capabilities"]["bpffs"] is True, "status says bpffs",
          True, r.stdout[:200])
    p.send_signal(signal.SIGTERM)
    p.wait(30)


def test_repeated_world_writable_exec_is_one_alert_and_a_summary():
    d = tmpdir()
    exe = os.path.join(d, "looper")
    shutil.copy(TRUE, exe)
    m = _marker()
    vd = Daemon()
    for _ in range(20):
        subprocess.run([exe, m], check=True)
    subprocess.run([exe, m, "other-args"], check=True)     # different arguments: its own alert
    _exec_ev(vd, "other-args")
    vd.settle(0.5)
    mine = [a for a in vd.alerts() if a["rule"] == "exec_world_writable" and m in a["process"]["args"]]
    same = [a for a in mine if a["process"]["args"][-1] == m]
    check(len(same) == 1 and same[0]["dedup"]["count"] == 1, "one alert while the window is open",
          1, [a.get("dedup") for a in same])
    check(len(mine) == 2, "different arguments alert on their own", 2, len(mine))
    check(vd.stop() == 0, "clean stop")
    same = [a for a in vd.alerts() if a["rule"] == "exec_world_writable" and a["process"]["args"][-1] == m]
    summary = [a for a in same if a["dedup"]["count"] > 1]
    check(len(summary) == 1 and summary[0]["dedup"]["count"] == 20, "summary with the exact count at stop",
          20, [a["dedup"] for a in same])
    check(summary[0]["dedup"]["summary_of"] == same[0]["id"], "summary names the first alert",
          same[0]["id"], summary[0]["dedup"].get("summary_of"))
