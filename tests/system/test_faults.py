"""Faults and self-protection: vigild killed or stopped under load, its log directory full,
the scoring service down for a minute and more, corrupt state files, 100k short-lived
processes, and vigil guarding its own files and pins.

Every fanotify permission mark here is an inode mark on a file of a tmpfs this test mounts;
XDP only on the veth pair of namespaces test_jit.Net creates.  Each test is time-bounded and
cleans up in every path (vigiltest.on_cleanup).
"""
import json, os, shutil, signal, subprocess, sys, time, uuid

from vigiltest import Daemon, check, helper, mount_tmpfs, on_cleanup, policy, tmpdir, ROOT, VIGIL

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_aac as taac     # noqa: E402  setup_fs, ph, run
import test_jit as tjit     # noqa: E402  Net, NsDaemon, request, grants, expect
import test_scored as tsc   # noqa: E402  Scored, _agent_policy, _ww_exec
import test_fim as tfim     # noqa: E402  wait_monitoring

LOAD = helper("fault_load")
NO_WW = {"exec_world_writable": {"enabled": False}}   # test tmpfs live under /tmp: no alert per exec
RULES = os.path.join(ROOT, "policies", "rules")      # the shipped detections (signals to vigild, tamper)


def _kv(out):
    """'a=1 b=2.5' -> {'a': 1.0, 'b': 2.5}"""
    return {k: float(v) for k, v in (x.split("=", 1) for x in out.split())}


def _start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    on_cleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
    return p


def _finish(p, what, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError(f"{what}: still running after {timeout}s (a hung process)")
    check(p.returncode == 0, f"{what} exit", 0, (p.returncode, err))
    return _kv(out)


def _restart(vd):
    open(vd.stderr_path, "w").close()     # readiness must come from the new run
    vd.start()


def _alert_lines(vd):
    """Every line of alerts.jsonl parsed; a torn or invalid line fails."""
    out = []
    with open(os.path.join(vd.log_dir, "alerts.jsonl"), "rb") as f:
        for i, line in enumerate(f):
            check(line.endswith(b"\n"), f"alert line {i + 1} complete", "newline", line[-80:])
            out.append(json.loads(line))
    return out


def _hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


# ---------------------------------------------------------------- self-protection

def _selfprot_fs():
    """A test tmpfs holding a fake install: policy, state files, a binary, an updater."""
    mnt = mount_tmpfs("16m")
    etc, state = os.path.join(mnt, "etc"), os.path.join(mnt, "state")
    os.makedirs(etc)
    os.makedirs(os.path.join(state, "sub"))
    files = {"policy": os.path.join(etc, "policy.json"), "key": os.path.join(state, "fim.key"),
             "deep": os.path.join(state, "sub", "grants.json"), "bin": os.path.join(mnt, "vigild-copy")}
    for p in files.values():
        with open(p, "w") as f:
            f.write("{}\n")
    upd = os.path.join(mnt, "updater")
    shutil.copy2(LOAD, upd)                  # the same program under an allowed exe path
    return mnt, etc, state, files, upd


def test_selfprot_denies_writes_to_own_files():
    mnt, etc, state, files, upd = _selfprot_fs()
    unprotected = os.path.join(mnt, "other.txt")
    open(unprotected, "w").close()
    pol = policy(self_protection={"deny_writes": True, "files": [files["policy"], state, files["bin"]],
                                  "updaters": [upd]})
    vd = Daemon(pol)
    st = vd.status()["self_protection"]
    check(st["backend"] == "fanotify" and st["protected_files"] == 4, "backend and marked files",
          ("fanotify", 4), st)

    def probe(prog, path, mode):
        r = subprocess.run([prog, "open", path, mode], capture_output=True, text=True, timeout=15)
        check(r.returncode == 0, "probe exit", 0, (r.returncode, r.stderr))
        return _kv(r.stdout)

    for name in ("policy", "key", "deep", "bin"):
        for mode in ("w", "trunc", "creat", "openat2w"):
            r = probe(LOAD, files[name], mode)
            check(r["errno"] == 1, f"{mode} open of protected {name} denied (EPERM)", 1, r)
            check(r["ms"] < 1000, f"{mode} open of protected {name} answered in bounded time", "< 1000 ms", r)
        r = probe(LOAD, files[name], "r")
        check(r["errno"] == 0, f"read of protected {name} allowed", 0, r)
    r = probe(LOAD, unprotected, "w")
    check(r["errno"] == 0, "write to an unprotected file on the same tmpfs", 0, r)
    r = probe(upd, files["policy"], "w")
    check(r["errno"] == 0, "the updater named in the policy may write", 0, r)
    # content untouched by the denied writers (creat and O_TRUNC would have emptied it)
    check(open(files["key"]).read() == "{}\n", "protected content intact", "{}\\n", open(files["key"]).read())
    a = vd.wait_alert(lambda a: a["rule"] == "vigil_selfprot_write_denied" and a["file"]["path"] == files["key"]
                      and a["file"]["syscall"] == "openat2", what="write denied alert")
    check(a["action"] == "blocked" and a["severity"] == "high" and a["process"]["exe"] == LOAD,
          "alert names the process", ("blocked", "high", LOAD), (a["action"], a["severity"], a["process"]))
    check(a["mitre"]["technique"] == "T1562.001", "MITRE technique", "T1562.001", a["mitre"])
    # a file the daemon does not know yet (new in a protected directory) is marked within a second
    newf = os.path.join(state, "new.json")
    open(newf, "w").close()
    deadline = time.time() + 5
    while probe(LOAD, newf, "w")["errno"] != 1:
        check(time.time() < deadline, "a new file in a protected directory gets protected", "EPERM within 5 s")
        time.sleep(0.2)
    # replaced by rename (a new inode under the same name): protected again
    tmp = files["policy"] + ".tmp"
    with open(tmp, "w") as f:
        f.write('{"replaced": 1}\n')
    os.rename(tmp, files["policy"])
    deadline = time.time() + 5
    while probe(LOAD, files["policy"], "w")["errno"] != 1:
        check(time.time() < deadline, "a replaced file is protected again", "EPERM within 5 s")
        time.sleep(0.2)
    st = vd.status()["self_protection"]
    check(st["decisions"]["denied"] >= 16 and st["decisions"]["updater"] >= 1 and st["internal_errors"] == 0,
          "decision counters", "denied >= 16, updater >= 1, no errors", st)
    # a writer blocked in the permission check is released when vigild stops; afterwards writes work
    vd.stop()
    r = probe(LOAD, files["key"], "w")
    check(r["errno"] == 0, "writes allowed once vigild is stopped (no mark left behind)", 0, r)


test_selfprot_denies_writes_to_own_files.timeout = 90


def test_selfprot_reload_off_and_bad_policy():
    mnt, etc, state, files, upd = _selfprot_fs()
    pol = policy(self_protection={"deny_writes": True, "files": [files["policy"]]})
    vd = Daemon(pol)

    def wr():
        r = subprocess.run([LOAD, "open", files["policy"], "w"], capture_output=True, text=True, timeout=15)
        return _kv(r.stdout)["errno"]

    check(wr() == 1, "denied while on", 1, wr())
    pol["self_protection"]["deny_writes"] = False
    with open(vd.policy_path, "w") as f:
        json.dump(pol, f)
    vd.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while vd.status()["self_protection"]["backend"] != "off":
        check(time.time() < deadline, "reload turns the write denial off", "off", vd.status()["self_protection"])
        time.sleep(0.2)
    check(wr() == 0, "allowed once off", 0, wr())
    # "/" is refused with a position; the old policy stays
    bad = dict(pol, self_protection={"deny_writes": True, "files": ["/"]})
    p = os.path.join(tmpdir(), "bad.json")
    with open(p, "w") as f:
        json.dump(bad, f, indent=1)
    r = vd.vigil("policy", "check", p)
    check(r.returncode == 2 and "cannot be protected" in (r.stdout + r.stderr) and ":" in r.stderr,
          "policy protecting / refused", "exit 2 with file:line:col", (r.returncode, r.stdout, r.stderr))


test_selfprot_reload_off_and_bad_policy.timeout = 60


def test_selfprot_unpin_and_signal_alerts():
    net = tjit.Net()
    pol = net.jit_policy()
    pol["detections"]["rules_dir"] = RULES
    vd = tjit.NsDaemon(net, pol)
    st = vd.status()["self_protection"]
    check(st["pins"]["dir"] == net.pin_dir and st["pins"]["watched"] >= 6, "JIT pins watched",
          (net.pin_dir, ">= 6"), st["pins"])
    victim = os.path.join(net.pin_dir, "vigil_jit_grant")
    check(os.path.exists(victim), "grant map pinned", victim, os.listdir(net.pin_dir))
    os.unlink(victim)
    a = vd.wait_alert(lambda a: a["rule"] == "vigil_tamper_unpin" and a["bpf_pin"]["path"] == victim,
                      timeout=10, what="unpin alert")
    check(a["severity"] == "high", "unpin alert severity", "high", a["severity"])
    # a signal from another process
    os.kill(vd.proc.pid, signal.SIGSTOP)
    time.sleep(0.3)
    os.kill(vd.proc.pid, signal.SIGCONT)
    a = vd.wait_alert(lambda a: a["rule"] == "vigil_tamper_signal" and a["signal"]["number"] == 19,
                      timeout=15, what="SIGSTOP alert")
    check(a["process"]["pid"] == os.getpid(), "signal alert names the sender", os.getpid(), a["process"])


test_selfprot_unpin_and_signal_alerts.timeout = 60


# ---------------------------------------------------------------- SIGKILL

def test_sigkill_under_exec_and_file_load():
    net = tjit.Net()
    net.start_server()
    mnt, b = taac.setup_fs()
    t, f = os.path.join(b, "true"), os.path.join(b, "false")
    data = os.path.join(mnt, "data")
    os.mkdir(data)
    pol = net.jit_policy()
    pol["sensors"]["file"] = True
    pol["rules"] = NO_WW
    pol["aac"] = {"mode": "enforce", "enforce_paths": [mnt], "rules": [taac.ph(t)], "aggregate_window_s": 0}
    pol["fim"]["watch"] = [{"path": data, "severity": "low"}]
    pol["fim"]["quiet_ms"] = 100
    vd = tjit.NsDaemon(net, pol)
    g = tjit.request(vd, net.ip_b, "120s")
    execs = _start([LOAD, "execs", "8", t, f])
    files = _start([LOAD, "files", data, "8"])
    time.sleep(3)
    before = vd.status()
    written = before["alerts_written"]
    vd.proc.send_signal(signal.SIGKILL)
    vd.proc.wait()
    e, fl = _finish(execs, "exec load", 30), _finish(files, "file load", 30)
    # no hung process: every exec and file operation returned, none waited for the dead daemon
    # false: refused while vigild lived, ran (exit 1) once it was dead: fail-open under load
    check(e["failed"] == 0 and e["ok"] > 0 and e["denied"] > 0 and e["nonzero"] > 0,
          "exec load: allowed ran, denied refused until the kill, fail-open after", "ok, denied, nonzero > 0", e)
    check(e["max_ms"] < 3000 and fl["max_ms"] < 3000 and fl["failed"] == 0, "no operation hung at the kill",
          "< 3000 ms", (e, fl))
    # enforcement as documented: AAC fails open, JIT stays enforced by its pinned program
    check(taac.run([f], timeout=10)[0] == 1, "AAC fail-open while vigild is dead", 1, taac.run([f]))
    tjit.expect(net, "JIT still blocks an ungranted source while vigild is dead", "BLOCKED", src=net.ip_b2)
    tjit.expect(net, "JIT grant still open while vigild is dead", "OPEN", src=net.ip_b)
    # the alert log: whole lines, at least what the daemon counted as written
    lines = _alert_lines(vd)
    check(len(lines) >= written, "alerts in the log after SIGKILL", f">= {written}", len(lines))
    ids = [a["id"] for a in lines]
    check(len(ids) == len(set(ids)), "alert ids unique", len(ids), len(set(ids)))
    rules = {a["rule"] for a in lines}
    check({"aac_not_allowed", "fim_change"} <= rules, "alerts of both loads logged before the kill",
          ["aac_not_allowed", "fim_change"], sorted(rules))
    # restart: pins adopted, grant restored, enforcement back, nothing of the old log lost
    _restart(vd)
    lst = tjit.grants(vd)
    check([(x["id"], x["end"]) for x in lst] == [(g["id"], g["end"])], "grant restored after SIGKILL",
          [(g["id"], g["end"])], [(x["id"], x["end"]) for x in lst])
    js = json.loads(tjit.jit(vd, "status", "--json").stdout)["jit"]
    check([i["adopted"] for i in js["interfaces"]] == [True], "pinned XDP link adopted", [True], js["interfaces"])
    check(taac.run([f])[0] == -1001, "AAC enforces again after the restart", -1001, taac.run([f]))
    after = {a["id"] for a in _alert_lines(vd)}
    check(set(ids) <= after, "every alert of before the kill still in the log", len(ids), len(set(ids) & after))
    tjit.expect(net, "JIT grant open after restart", "OPEN", src=net.ip_b)


test_sigkill_under_exec_and_file_load.timeout = 150


# ---------------------------------------------------------------- control socket

def test_stalled_control_clients_hold_nothing():
    """Control clients that connect and send nothing must not stall vigild's loop: a
    blocking server waited 2 s on each, so 12 of them kept `vigil status` (10 s limit)
    unanswered and file events unread."""
    import socket
    mnt = os.path.realpath(mount_tmpfs("16m"))
    w = os.path.join(mnt, "w")
    os.mkdir(w)
    vd = Daemon(policy(sensors={"file": True}, file={"watch": [w]}, rules=NO_WW))
    silent = []
    for _ in range(12):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        on_cleanup(s.close)
        s.connect(vd.socket)
        s.settimeout(15)
        silent.append(s)
    target = os.path.join(w, "f")
    with open(target, "w") as f:
        f.write("x")
    st = vd.vigil("status", "--json")
    check(st.returncode == 0 and json.loads(st.stdout)["pid"] == vd.proc.pid, "vigil status answered while 12 clients stall",
          0, (st.returncode, st.stderr))
    vd.wait_event(lambda e: e.get("type") == "file" and e["file"]["path"] == target,
                  what="file event read while clients stall")
    # each stalled client is answered at its deadline and closed
    for i, s in enumerate(silent):
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        check(json.loads(data) == {"error": "empty request"}, f"stalled client {i} answered", "empty request", data)
        check(s.recv(1) == b"", f"stalled client {i} closed", b"", None)


test_stalled_control_clients_hold_nothing.timeout = 60


# ---------------------------------------------------------------- SIGSTOP

def test_sigstop_30s_under_load():
    mnt, b = taac.setup_fs()
    t = os.path.join(b, "true")
    data, watched = os.path.join(mnt, "data"), os.path.join(mnt, "fim")
    os.mkdir(data)
    os.mkdir(watched)
    target = os.path.join(watched, "target.conf")
    with open(target, "w") as fh:
        fh.write("before\n")
    pol = policy(file={"watch": [data]}, telemetry={"fork_exit": True},
                 fim={"watch": [{"path": watched, "severity": "high"}]}, detections={"rules_dir": RULES},
                 rules=NO_WW)
    vd = Daemon(pol)
    tfim.wait_monitoring(vd, 30)
    loss0 = vd.status()["loss"]
    os.kill(vd.proc.pid, signal.SIGSTOP)
    t0 = time.time()
    on_cleanup(lambda: vd.proc.poll() is None and os.kill(vd.proc.pid, signal.SIGCONT))
    execs = _start([LOAD, "execs", "20", t])
    files = _start([LOAD, "files", data, "20"])
    e, fl = _finish(execs, "exec load while stopped", 40), _finish(files, "file load while stopped", 40)
    # after the ringbufs filled up: a change only a rescan can find
    with open(target, "w") as fh:
        fh.write("changed while vigild was stopped\n")
    time.sleep(max(0, t0 + 30 - time.time()))
    os.kill(vd.proc.pid, signal.SIGCONT)
    t1 = time.time()
    st = vd.status()            # answers: no deadlock
    check(time.time() - t1 < 10, "vigil status answers after SIGCONT", "< 10 s", time.time() - t1)
    check(e["max_ms"] < 3000 and fl["max_ms"] < 3000 and e["failed"] == 0, "load never waited for vigild",
          "< 3000 ms", (e, fl))
    lost_file = sum(st["loss"]["file"].values()) - sum(loss0["file"].values())
    check(lost_file > 0, "file events lost while stopped are counted", "> 0", st["loss"])
    la = vd.wait_alert(lambda a: a["rule"] == "event_loss", timeout=15, what="event_loss alert")
    check(la["loss"]["lost"] > 0 and any(x["type"] == "file" for x in la["loss"]["by"]),
          "loss alert counts file events", "lost > 0 incl. file", la["loss"])
    # the change made after the ringbuf filled: found by the rescan the loss triggers
    fa = vd.wait_alert(lambda a: a["rule"] in ("fim_change", "fim_rescan_change") and a["fim"]["path"] == target,
                       timeout=60, what="FIM change of the target after the loss")
    fst = tfim.wait_monitoring(vd, 60)
    check(fst["rescans"] >= 1, "FIM rescanned after the loss", ">= 1", fst)
    check(fa["severity"] == "high", "FIM alert severity", "high", fa["severity"])
    sa = vd.wait_alert(lambda a: a["rule"] == "vigil_tamper_signal" and a["signal"]["number"] == 19,
                       timeout=15, what="SIGSTOP alert")
    check(sa["process"]["pid"] == os.getpid(), "SIGSTOP alert names the sender", os.getpid(), sa["process"])
    # still working: a new file change is seen in real time
    with open(target, "a") as fh:
        fh.write("after\n")
    vd.wait_alert(lambda a: a["rule"] == "fim_change" and a["fim"]["path"] == target and a["time"] > fa["time"],
                  timeout=15, what="real-time FIM alert after the stop")


test_sigstop_30s_under_load.timeout = 150


# ---------------------------------------------------------------- full log directory

def test_log_dir_full_tmpfs():
    mnt, b = taac.setup_fs()
    t, f = os.path.join(b, "true"), os.path.join(b, "false")
    f2 = os.path.join(b, "false2")
    shutil.copy2(f, f2)
    logs = mount_tmpfs("1m")
    # AAC alerts only: a shorter alert from other host activity (a detection, a FIM change)
    # could still fit in the full log and be counted below
    vd = Daemon(policy(aac={"mode": "enforce", "enforce_paths": [mnt], "rules": [taac.ph(t)],
                            "aggregate_window_s": 0}, rules=NO_WW, detections={"enabled": False},
                       fim={"enabled": False}), start=False)
    vd.log_dir = logs
    vd.start()
    check(taac.run([f])[0] == -1001, "enforcing before the disk fills", -1001, taac.run([f]))
    vd.wait_alert(lambda a: a["rule"] == "aac_not_allowed" and a["file"]["path"] == f, what="first alert")
    filler = os.path.join(logs, "filler")
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, timeout=30)
    # the last page of alerts.jsonl may still hold a line or two: write until a write fails
    st0 = vd.status()
    deadline = time.time() + 20
    while vd.status()["log_write_failures"] <= st0["log_write_failures"]:
        check(time.time() < deadline, "alert write failures counted", f"> {st0['log_write_failures']}",
              vd.status()["log_write_failures"])
        check(taac.run([f])[0] == -1001, "still enforcing with the log directory full", -1001, taac.run([f]))
        time.sleep(0.2)
    st0 = vd.status()
    alerts = os.path.join(logs, "alerts.jsonl")
    a0 = os.stat(alerts)
    slack = a0.st_blocks * 512 - a0.st_size     # the file's last page: a shorter line may still fit
    for _ in range(5):
        check(taac.run([f])[0] == -1001, "still enforcing with the log directory full", -1001, taac.run([f]))
    check(taac.run([t])[0] == 0, "allowed binary still runs", 0, taac.run([t]))
    time.sleep(1)
    st = vd.status()
    with open(alerts, "rb") as fh:
        fh.seek(a0.st_size)
        grown = fh.read()
    written = st["alerts_written"] - st0["alerts_written"]
    failed = st["log_write_failures"] - st0["log_write_failures"]
    check(len(grown) <= slack, "nothing written beyond the space left", f"<= {slack} bytes", len(grown))
    check(grown.count(b"\n") == written and (not grown or grown.endswith(b"\n")),
          "whole lines only, as many as counted written", written, grown[-200:])
    check(written + failed >= 5, "each denied exec's alert written or counted as a failure", ">= 5",
          {"written": written, "failed": failed})
    check("No space left on device" in vd.stderr() and "alerts.jsonl" in vd.stderr(),
          "the failure is reported on stderr", "No space left on device ... alerts.jsonl", vd.stderr()[-1500:])
    # space returns: writing resumes without a restart
    os.unlink(filler)
    check(taac.run([f2])[0] == -1001, "enforcing after space returned", -1001, taac.run([f2]))
    vd.wait_alert(lambda a: a["rule"] == "aac_not_allowed" and a["file"]["path"] == f2, timeout=15,
                  what="alert written once space returned")
    _alert_lines(vd)            # and every line whole (no partial line from the ENOSPC period)
    check(vd.proc.poll() is None, "vigild kept running", None, vd.proc.returncode)


test_log_dir_full_tmpfs.timeout = 90


def test_alerts_forwarded_while_log_full():
    """The local alert log full: alerts raised meanwhile still reach vigil-scored (the
    forwarder's spool is in the state directory)."""
    host = "full-" + uuid.uuid4().hex[:8]
    sc = tsc.Scored()
    tf, rd = sc.token_file(host), sc.token("ops", "reader")
    sc.start()
    d = tmpdir("vigiltest-ww-")
    os.chmod(d, 0o1777)
    shutil.copy("/usr/bin/true", os.path.join(d, "xtrue"))
    logs = mount_tmpfs("1m")
    vd = Daemon(tsc._agent_policy(sc, tf, host), start=False)
    vd.log_dir = logs
    vd.start()

    def stored():
        return sc.get(f"/api/v1/alerts?host={host}&limit=1000", rd)["alerts"]

    tsc._ww_exec(d, "before")
    tsc._wait(lambda: any(a["rule"] == "exec_world_writable" for a in stored()), 30, "alert stored before the disk fills")
    subprocess.run(["dd", "if=/dev/zero", f"of={os.path.join(logs, 'filler')}", "bs=64k"], capture_output=True, timeout=30)
    st0 = vd.status()
    # distinct binaries: de-duplication folds repeats of one exe
    for i in range(3):
        name = os.path.join(d, f"full{i}")
        shutil.copy("/usr/bin/true", name)
        subprocess.run([name], timeout=10, check=True)
    want = {os.path.join(d, f"full{i}") for i in range(3)}

    def got():
        seen = {(a.get("process") or {}).get("exe") for a in stored() if a["rule"] == "exec_world_writable"}
        return want <= seen and seen
    tsc._wait(got, 30, "the alerts raised while the log was full reach vigil-scored")
    # (the tail of the log file's last page may still take a line: at least one write failed)
    st = vd.status()
    check(st["log_write_failures"] > st0["log_write_failures"], "the failed writes are counted",
          f"> {st0['log_write_failures']}", st["log_write_failures"])
    local = {(a.get("process") or {}).get("exe") for a in vd.alerts()}
    check(not want <= local, "some of them are missing from the full local log", "not all local", sorted(want & local))


test_alerts_forwarded_while_log_full.timeout = 120


def test_stop_signal_alert_forwarded_and_clean_exit():
    """The signal that stops vigild is a tamper alert, often read only while vigild shuts
    down.  Every engine emits what it holds before any is freed: vigild exits 0 (an alert
    reaching the freed forwarder crashed it) and the alert reaches vigil-scored (spooled,
    delivered at the next start)."""
    host = "stop-" + uuid.uuid4().hex[:8]
    sc = tsc.Scored()
    tf, rd = sc.token_file(host), sc.token("ops", "reader")
    sc.start()
    pol = tsc._agent_policy(sc, tf, host)
    pol["detections"] = {"enabled": True, "rules_dir": os.path.join(ROOT, "policies", "rules")}
    pol["forward"]["interval_s"] = 60      # nothing sent on a timer while it runs: what matters is the spool
    vd = Daemon(pol)
    for cycle in range(3):
        if cycle:
            vd.start()
        rc = vd.stop(signal.SIGINT)
        check(rc == 0, f"cycle {cycle}: vigild exit status after SIGINT", 0, (rc, vd.stderr()[-1500:]))
    local = [a for a in vd.alerts() if a["rule"] == "vigil_tamper_signal" and a["signal"]["number"] == 2]
    check(len(local) == 3, "one tamper alert per SIGINT in the local log", 3, len(local))
    vd.start()                              # delivers the spool

    def stored():
        ids = {a["id"] for a in sc.get(f"/api/v1/alerts?host={host}&limit=1000", rd)["alerts"]}
        return {a["id"] for a in local} <= ids
    tsc._wait(stored, 60, "every SIGINT tamper alert delivered to vigil-scored")
    vd.stop()


test_stop_signal_alert_forwarded_and_clean_exit.timeout = 180


# ---------------------------------------------------------------- scoring service down

def test_scored_down_over_a_minute():
    host = "out-" + uuid.uuid4().hex[:8]
    sc = tsc.Scored()
    tf, rd = sc.token_file(host), sc.token("ops", "reader")
    sc.start()
    d = tmpdir("vigiltest-ww-")
    os.chmod(d, 0o1777)
    shutil.copy("/usr/bin/true", os.path.join(d, "xtrue"))
    vd = Daemon(tsc._agent_policy(sc, tf, host))

    def stored():
        return sc.get(f"/api/v1/alerts?host={host}&limit=1000", rd)["alerts"]

    tsc._ww_exec(d, "up")
    tsc._wait(lambda: any(a["rule"] == "exec_world_writable" for a in stored()), 30, "alert stored while up")
    sc.stop()
    t0 = time.time()
    n = 0
    while time.time() - t0 < 70:            # down for 70 s, alerts all along
        tsc._ww_exec(d, f"down-{n}")
        n += 1
        time.sleep(5)
    st = vd.status()["forward"]
    check(st["spool"]["bytes"] > 0 and st["spool"]["dropped"] == 0, "the spool holds the backlog", "bytes > 0, 0 dropped",
          st["spool"])
    check(st["failures"] >= 5, "failed attempts counted (with backoff, not a storm)", ">= 5", st["failures"])
    check(st["failures"] < 70, "retries back off", "< 70 in 70 s", st["failures"])
    sc.start()
    t1 = time.time()
    want = {a["id"] for a in vd.alerts()}
    got = tsc._wait(lambda: (lambda s: s if want <= {a["id"] for a in s} else None)(stored()), 90,
                    "every alert delivered after the outage")
    ids = [a["id"] for a in got]
    check(len(ids) == len(set(ids)), "each alert stored once", len(set(ids)), len(ids))
    check(time.time() - t1 < 75, "backlog delivered within the backoff cap", "< 75 s", time.time() - t1)
    st = vd.status()["forward"]
    check(st["spool"]["dropped"] == 0 and st["rejected"] == 0, "no loss in the forwarder", 0, st)


test_scored_down_over_a_minute.timeout = 240


# ---------------------------------------------------------------- corrupt state files

def test_corrupt_state_files_detected_not_trusted():
    net = tjit.Net()
    net.start_server()
    mnt, b = taac.setup_fs()
    t = os.path.join(b, "true")
    fimdir = os.path.join(mnt, "fim")
    os.mkdir(fimdir)
    with open(os.path.join(fimdir, "a.conf"), "w") as fh:
        fh.write("a\n")
    sc = tsc.Scored()                         # never started: alerts stay in the spool
    tf = sc.token_file("corrupt")
    pol = net.jit_policy()
    fwd = tsc._agent_policy(sc, tf, "corrupt-host")
    pol["forward"], pol["host"] = fwd["forward"], fwd["host"]
    pol["sensors"]["file"] = True
    pol["rules"] = NO_WW
    pol["aac"] = {"mode": "learn", "enforce_paths": [mnt], "rules": [], "aggregate_window_s": 0}
    pol["fim"]["watch"] = [{"path": fimdir}]
    vd = tjit.NsDaemon(net, pol)
    tfim.wait_monitoring(vd, 30)
    tjit.request(vd, net.ip_b, "1h")
    check(taac.run([t])[0] == 0, "a learned exec", 0, taac.run([t]))
    r = vd.vigil("aac", "mode", "audit")
    check(r.returncode == 0, "aac mode audit", 0, (r.returncode, r.stderr))
    deadline = time.time() + 15
    while not (vd.status()["aac"]["learned"] >= 1 and vd.status()["forward"]["spool"]["bytes"] > 0):
        check(time.time() < deadline, "state written (learned, spool)", "learned >= 1, spool > 0",
              (vd.status()["aac"], vd.status()["forward"]["spool"]))
        time.sleep(0.3)
    vd.stop()                                 # saves the learning store
    sd = vd.state_dir
    files = {"mode": os.path.join(sd, "aac", "mode.json"), "learned": os.path.join(sd, "aac", "learned.json"),
             "grants": os.path.join(sd, "jit", "grants.json")}
    for k, p in files.items():
        check(os.path.exists(p), f"{k} state file exists", p, os.listdir(os.path.dirname(p)))
    with open(files["mode"], "w") as fh:
        fh.write('{"mode": "off"')              # torn
    with open(files["learned"], "wb") as fh:
        fh.write(b"\x00\xffnot json")
    with open(files["grants"], "r+") as fh:
        fh.seek(0)
        fh.write("#")                            # one byte flipped
    db = os.path.join(sd, "fim.db")
    with open(db, "r+b") as fh:
        data = bytearray(fh.read())
        data[len(data) // 2] ^= 0x01
        fh.seek(0)
        fh.write(data)
    spool = os.path.join(sd, "forward")
    segs = sorted(x for x in os.listdir(spool) if x.startswith("seg-"))
    check(segs, "spool segments", "seg-*", os.listdir(spool))
    with open(os.path.join(spool, segs[-1]), "ab") as fh:
        fh.write(b"garbage that is not json\n[1, 2]\n")
    _restart(vd)

    def corrupt_alert(p):
        return vd.wait_alert(lambda a: a["rule"] == "vigil_state_corrupt" and a["state"]["path"] == p,
                             timeout=15, what=f"vigil_state_corrupt for {p}")

    for k, p in files.items():
        a = corrupt_alert(p)
        check(a["state"].get("kept_as") and os.path.exists(a["state"]["kept_as"]), f"corrupt {k} kept aside",
              "an existing copy", a["state"])
        check(p in vd.stderr(), f"corrupt {k} reported on stderr", p, vd.stderr()[-2000:])
    st = vd.status()
    check(st["aac"]["mode"] == "learn" and st["aac"].get("mode_override") in (None, "none"),
          "corrupt mode override not trusted: the policy's mode", "learn", (st["aac"]["mode"], st["aac"].get("mode_override")))
    check(st["aac"]["learned"] <= 1, "corrupt learning store not loaded", "<= 1 (re-learned)", st["aac"]["learned"])
    check(tjit.grants(vd) == [], "corrupt grants file: no grant restored", [], tjit.grants(vd))
    tjit.expect(net, "no grant trusted from a corrupt file", "BLOCKED", src=net.ip_b)
    a = vd.wait_alert(lambda a: a["rule"] == "fim_baseline_tampered", timeout=30, what="FIM baseline tamper alert")
    check(a["severity"] == "high", "FIM tamper alert severity", "high", a["severity"])
    deadline = time.time() + 20
    sc.start()                                 # the spool is read: garbage lines are skipped and counted
    while vd.status()["forward"]["spool"]["corrupt"] < 2:
        check(time.time() < deadline, "corrupt spool lines counted", ">= 2", vd.status()["forward"]["spool"])
        time.sleep(0.5)
    check(vd.proc.poll() is None, "vigild running on", None, vd.proc.returncode)


test_corrupt_state_files_detected_not_trusted.timeout = 180


# ---------------------------------------------------------------- 100k processes

def test_100k_short_lived_processes_bounded():
    vd = Daemon(policy(telemetry={"fork_exit": True}, rules=NO_WW))
    tmp = tmpdir()
    true = os.path.join(tmp, "t")
    shutil.copy2("/bin/true", true)
    pid = vd.proc.pid
    # warm-up: the tables and caches reach their steady state
    _finish(_start([LOAD, "procs", "5000", "8", "10", true]), "warm-up", 120)
    time.sleep(1)
    hwm0, st0 = _hwm_kb(pid), vd.status()
    r = _finish(_start([LOAD, "procs", "100000", "8", "10", true]), "100k processes", 240)
    check(r["done"] == 100000 and r["failed"] == 0, "100k processes ran", 100000, r)
    time.sleep(2)
    hwm1, st = _hwm_kb(pid), vd.status()
    print(f"  VmHWM {hwm0} kB -> {hwm1} kB after 100k processes in {r['secs']} s; process table "
          f"{st['process_table']}, rss {st['rss_kb']} kB")
    check(st["process_table"]["size"] <= 65536, "process table within its bound", "<= 65536", st["process_table"])
    check(hwm1 - hwm0 < 48 * 1024, "peak RSS growth bounded", "< 48 MiB", (hwm0, hwm1))
    # a second round: a bounded agent is at its plateau, a leak grows again
    r = _finish(_start([LOAD, "procs", "100000", "8", "10", true]), "second 100k processes", 240)
    time.sleep(2)
    hwm2, st = _hwm_kb(pid), vd.status()
    print(f"  VmHWM {hwm2} kB after the second 100k; process table {st['process_table']}")
    check(hwm2 - hwm1 < 8 * 1024, "no growth in the second round (plateau)", "< 8 MiB", (hwm1, hwm2))
    check(st["process_table"]["size"] <= 65536, "process table within its bound", "<= 65536", st["process_table"])
    check(vd.proc.poll() is None and vd.vigil("status").returncode == 0, "vigild alive and answering", True, False)


test_100k_short_lived_processes_bounded.timeout = 300
