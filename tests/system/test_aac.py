"""Adaptive application control: learn -> recommend -> apply -> enforce, audit,
enforce and its bypasses, mode switches under load, daemon death, restart,
bad input.  Enforcement is always scoped to a tmpfs this test mounts; the
executables under test are copies living there.  Never marks /."""
import hashlib, json, os, shutil, signal, subprocess, threading, time

from vigiltest import Daemon, policy, check, helper, mount_tmpfs, tmpdir, VIGIL, on_cleanup

LDSO = "/lib64/ld-linux-x86-64.so.2"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def setup_fs():
    """A tmpfs (mode 755) with bin/ holding copies of true, false, dash, bash."""
    mnt = mount_tmpfs("64m")
    os.chmod(mnt, 0o755)
    b = os.path.join(mnt, "bin")
    os.mkdir(b, 0o755)
    for n in ("true", "false", "dash", "bash"):
        shutil.copy2("/bin/" + n, os.path.join(b, n))
    return mnt, b


def aac_policy(mnt, mode, rules=(), **kw):
    sec = {"mode": mode, "enforce_paths": [mnt], "rules": list(rules), "aggregate_window_s": 0}
    sec.update(kw)
    return policy(aac=sec)


def ph(path, content_of=None):
    return {"kind": "path_hash", "path": path, "sha256": sha(content_of or path)}


def run(argv, timeout=30, **kw):
    """Runs argv; returns (returncode, stdout+stderr); PermissionError gives (-1000 - errno)."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
        return p.returncode, p.stdout + p.stderr
    except PermissionError as e:
        return -1000 - e.errno, str(e)


def restart(vd):
    """Starts vd again on the same directories (a fresh stderr, so readiness is the new run's)."""
    open(vd.stderr_path, "w").close()
    vd.start()


def status(vd):
    return vd.status()["aac"]


def aac_alerts(vd, path=None, rule="aac_not_allowed"):
    return [a for a in vd.alerts() if a.get("rule") == rule and (path is None or a["file"]["path"] == path)]


def wait_alert_for(vd, path, action, rule="aac_not_allowed", timeout=10):
    return vd.wait_alert(lambda a: a["rule"] == rule and a["file"]["path"] == path and a["action"] == action,
                         timeout=timeout, what=f"{rule} {action} alert for {path}")


def test_audit_mode_alerts_and_lets_it_run():
    mnt, b = setup_fs()
    t, f = os.path.join(b, "true"), os.path.join(b, "false")
    with Daemon(aac_policy(mnt, "audit", [ph(t)], aggregate_window_s=2)) as vd:
        st = status(vd)
        check(st["mode"] == "audit", "mode", "audit", st["mode"])
        check(st["backend"] == "fanotify", "backend", "fanotify", st["backend"])
        check(st["bpf_lsm"]["usable"] is False and "not permitted" in st["bpf_lsm"]["detail"],
              "BPF LSM probe refused cleanly", "usable false, EPERM", st["bpf_lsm"])
        rc, _ = run([t])
        check(rc == 0, "allowed true exit", 0, rc)
        rc, _ = run([f])
        check(rc == 1, "unlisted false runs in audit (its own exit code 1)", 1, rc)
        al = wait_alert_for(vd, f, "audited")
        check(al["title"] == "Executable not in allowlist", "title", "Executable not in allowlist", al["title"])
        check(al["file"]["sha256"] == sha(f), "sha256", sha(f), al["file"]["sha256"])
        check(al["mitre"]["technique"] == "T1204.002", "mitre", "T1204.002", al["mitre"])
        check(al["remediation_rule"] == {"kind": "path_hash", "path": f, "sha256": sha(f)},
              "remediation rule", ph(f), al["remediation_rule"])
        check(json.dumps(al["remediation_rule"], separators=(",", ":")) in al["remediation"],
              "remediation text names the exact rule", al["remediation_rule"], al["remediation"])
        check(al["process"]["exe"] == f and al["process"]["user"] == "root", "process", f, al["process"])
        check(isinstance(al.get("parents"), list) and al["parents"], "parent chain", "non-empty", al.get("parents"))
        check(al["aac"]["mode"] == "audit" and al["aac"]["decided_by"].startswith("default deny"),
              "decided by", "audit/default deny", al["aac"])
        check(al["count"] == 1, "first alert count", 1, al["count"])
        check(not aac_alerts(vd, t), "no alert for the allowed binary", [], aac_alerts(vd, t))
        # repeats inside the window are aggregated into one alert with their count
        for _ in range(4):
            run([f])
        agg = vd.wait_alert(lambda a: a["rule"] == "aac_not_allowed" and a.get("aggregated"), timeout=10,
                            what="aggregated alert")
        check(agg["count"] == 4, "aggregated count", 4, agg["count"])
        check(len(aac_alerts(vd, f)) == 2, "alerts for 5 identical violations", 2, len(aac_alerts(vd, f)))
test_audit_mode_alerts_and_lets_it_run.timeout = 180


def test_enforce_blocks_and_bypasses_fail():
    mnt, b = setup_fs()
    t, f, dash, bash = (os.path.join(b, n) for n in ("true", "false", "dash", "bash"))
    ok_script = os.path.join(b, "ok.sh")
    bad_script = os.path.join(b, "bad.sh")
    bashed = os.path.join(b, "bashed.sh")
    for p, interp, body in ((ok_script, dash, "exit 0"), (bad_script, dash, "exit 0"), (bashed, bash, "exit 0")):
        with open(p, "w") as fh:
            fh.write(f"#!{interp}\n{body}\n")
        os.chmod(p, 0o755)
    rules = [ph(t), ph(ok_script), ph(bashed), {"kind": "hash", "sha256": sha(dash)}]
    ex = helper("aac_exec")
    with Daemon(aac_policy(mnt, "enforce", rules)) as vd:
        st = status(vd)
        check(st["enforcement"] == "active", "enforcement", "active", st["enforcement"])
        check(st["fileless_guard"]["action"] == "hold", "fileless guard with a hash rule", "hold", st["fileless_guard"])
        rc, _ = run([t])
        check(rc == 0, "allowed exec", 0, rc)
        rc, out = run([f])
        check(rc == -1001, "denied exec fails with EPERM", -1001, (rc, out))
        al = wait_alert_for(vd, f, "blocked")
        check(al["remediation_rule"]["sha256"] == sha(f), "blocked alert remediation", sha(f), al["remediation_rule"])

        # execveat with a dirfd, fexecve: decided on the file
        rc, out = run([ex, "execveat", b, "false"])
        check(rc == 101, "execveat(dirfd) of an unlisted file", 101, (rc, out))
        rc, out = run([ex, "execveat", b, "true"])
        check(rc == 0, "execveat(dirfd) of an allowed file", 0, (rc, out))
        rc, out = run([ex, "fexecve", f])
        check(rc == 101, "fexecve of an unlisted file", 101, (rc, out))

        # fileless: memfd (BPF guard) and O_TMPFILE (fanotify)
        rc, out = run([ex, "memfd", "/bin/false"])
        check(rc == -signal.SIGKILL, "memfd exec of unlisted code is killed before it runs", -9, (rc, out))
        al = vd.wait_alert(lambda a: a["rule"] == "aac_not_allowed" and a["file"]["fileless"]
                           and a["action"] == "blocked" and "memfd" in a["file"]["path"], what="memfd alert")
        check(al["title"] == "Fileless executable not in allowlist", "fileless title",
              "Fileless executable not in allowlist", al["title"])
        check(al["mitre"]["technique"] == "T1620", "fileless mitre", "T1620", al["mitre"])
        rc, out = run([ex, "memfd", "/bin/true"])
        check(rc == -signal.SIGKILL, "memfd of true: path rules do not cover fileless code", -9, (rc, out))
        rc, out = run([ex, "memfd", dash, "-c", "exit 7"])
        check(rc == 7, "memfd of dash, allowed by its hash, runs", 7, (rc, out))
        rc, out = run([ex, "tmpfile", b, "/bin/false"])
        check(rc == 101, "O_TMPFILE exec of unlisted code", 101, (rc, out))
        vd.wait_alert(lambda a: a["rule"] == "aac_not_allowed" and a["file"]["fileless"]
                      and a["file"]["path"].startswith(b), what="O_TMPFILE fileless alert")

        # the dynamic loader running an unlisted ELF
        rc, out = run([LDSO, f])
        check(rc != 0 and rc != 1, "ld.so running an unlisted ELF fails", "not 0/1", (rc, out))
        al = vd.wait_alert(lambda a: a["rule"] == "aac_not_allowed" and a["aac"]["via_loader"], what="ld.so alert")
        check(al["file"]["path"] == f, "ld.so alert names the program", f, al["file"]["path"])
        rc, out = run([LDSO, t])
        check(rc == 0, "ld.so running an allowed ELF", 0, (rc, out))

        # a copy of an allowed binary under a new path; new content at an allowed path
        cp = os.path.join(b, "true-copy")
        shutil.copy2(t, cp)
        rc, _ = run([cp])
        check(rc == -1001, "copy of an allowed binary under a new path (no hash rule)", -1001, rc)
        saved = open(t, "rb").read()
        with open(t, "r+b") as fh:
            fh.write(open("/bin/false", "rb").read())
            fh.truncate()
        rc, _ = run([t])
        check(rc == -1001, "new content at an allowed path", -1001, rc)
        al = wait_alert_for(vd, t, "blocked")
        check(al["aac"]["reason"].startswith("modified") and al["mitre"]["technique"] == "T1554",
              "modified binary alert", "modified / T1554", (al["aac"]["reason"], al["mitre"]))
        with open(t, "r+b") as fh:
            fh.write(saved)
            fh.truncate()
        rc, _ = run([t])
        check(rc == 0, "original content back at the allowed path", 0, rc)

        # symlinks and hard links are decided by the file actually executed
        for name, target, want in (("l-true", t, 0), ("l-false", f, -1001)):
            lp = os.path.join(mnt, name)
            os.symlink(target, lp)
            rc, _ = run([lp])
            check(rc == want, f"symlink {name} -> {target}", want, rc)
        for name, target, want in (("h-true", t, 0), ("h-false", f, -1001)):
            hp = os.path.join(b, name)
            os.link(target, hp)
            rc, _ = run([hp])
            check(rc == want, f"hard link {name} -> {target} (the same file)", want, rc)
        rc, _ = run([t])
        check(rc == 0, "allowed binary still allowed under its own name", 0, rc)

        # scripts: both the script and the interpreter must be allowed
        rc, out = run([ok_script])
        check(rc == 0, "allowed script with allowed interpreter", 0, (rc, out))
        rc, out = run([bad_script])
        check(rc == -1001, "unlisted script with allowed interpreter", -1001, (rc, out))
        rc, out = run([bashed])
        check(rc == -1001, "allowed script with unlisted interpreter", -1001, (rc, out))
        renamed = os.path.join(mnt, "renamed-sh")
        shutil.copy2(dash, renamed)
        rc, out = run([renamed, "-c", "exit 3"])
        check(rc == 3, "renamed interpreter keeps its hash (hash rule)", 3, (rc, out))

        st = status(vd)
        check(st["fanotify"]["denied"] >= 8, "fanotify denials counted", ">= 8", st["fanotify"]["denied"])
        check(st["fanotify"]["errors"] == 0, "no decision errors", 0, st["fanotify"]["errors"])
    # shutting down releases everything: the marks are gone with the daemon
    rc, _ = run([f])
    check(rc == 1, "after shutdown nothing is blocked", 1, rc)
test_enforce_blocks_and_bypasses_fail.timeout = 240


def write_fake_dpkg(mnt):
    """A dpkg admin dir that says package 'vigiltest-tools' owns pkg/bin/tool and pkg/bin/tool2."""
    d = tmpdir("vigiltest-dpkg-")
    os.mkdir(os.path.join(d, "info"))
    pb = os.path.join(mnt, "pkg", "bin")
    os.makedirs(pb, 0o755)
    shutil.copy2("/bin/echo", os.path.join(pb, "tool"))
    with open(os.path.join(d, "status"), "w") as fh:
        fh.write("Package: vigiltest-tools\nStatus: install ok installed\nVersion: 1\n\n"
                 "Package: gone\nStatus: deinstall ok config-files\n\n")
    rel = os.path.relpath(pb, "/")
    with open(os.path.join(d, "info", "vigiltest-tools.md5sums"), "w") as fh:
        fh.write(f"{md5('/bin/echo')}  {rel}/tool\n{md5('/bin/ls')}  {rel}/tool2\n")
    with open(os.path.join(d, "info", "vigiltest-tools.list"), "w") as fh:
        fh.write(f"/{rel}\n/{rel}/tool\n/{rel}/tool2\n")
    return d, os.path.join(pb, "tool"), os.path.join(pb, "tool2")


def test_learn_recommend_apply_enforce_restart_and_sigkill():
    mnt, b = setup_fs()
    dpkg, tool, tool2 = write_fake_dpkg(mnt)
    t, f = os.path.join(b, "true"), os.path.join(b, "false")
    ww = os.path.join(mnt, "ww")
    os.mkdir(ww)
    os.chmod(ww, 0o1777)
    risky = os.path.join(ww, "dropper")
    shutil.copy2("/bin/true", risky)
    vd = Daemon(aac_policy(mnt, "learn", [], dpkg_dir=dpkg))
    st = status(vd)
    check(st["dpkg"].get("packages") == 1, "fake dpkg database loaded (installed packages only)", 1, st["dpkg"])
    for p in (t, tool, risky):
        check(run([p])[0] == 0, f"{p} runs in learn mode", 0, run([p]))
    deadline = time.time() + 10
    while time.time() < deadline:
        learned = json.loads(vd.vigil("aac", "learned", "--json").stdout)
        if {t, tool, risky} <= {e["path"] for e in learned}:
            break
        time.sleep(0.2)
    by = {e["path"]: e for e in learned}
    check({t, tool, risky} <= set(by), "learned paths", [t, tool, risky], sorted(by))
    check(by[tool]["package"] == "vigiltest-tools" and by[tool]["package_verified"], "package learned",
          "vigiltest-tools verified", by[tool])
    check(by[t]["sha256"] == sha(t) and by[t]["count"] >= 1 and by[t]["users"] == ["root"], "learned entry",
          sha(t), by[t])
    check(f not in by, "never-run binary not learned", None, by.get(f))

    prop = os.path.join(tmpdir(), "proposal.json")
    r = vd.vigil("aac", "recommend", "-o", prop)
    check(r.returncode == 0, "recommend exit", 0, (r.returncode, r.stderr))
    p = json.load(open(prop))
    rules = p["aac"]["rules"]
    check({"kind": "package", "package": "vigiltest-tools"} in rules, "package rule proposed",
          "vigiltest-tools", rules)
    check(ph(t) in rules, "path_hash rule proposed for the unpackaged binary", ph(t), rules)
    check(not any(r.get("path") == risky for r in rules), "risky binary never proposed", None, rules)
    check(any(x["path"] == risky and "world-writable" in x["reason"] for x in p["risky"]),
          "risky binary listed", risky, p["risky"])

    r = vd.vigil("aac", "apply", prop)
    check(r.returncode == 0, "apply exit", 0, (r.returncode, r.stdout, r.stderr))
    r = vd.vigil("aac", "apply", prop)
    check(r.returncode == 0 and "merged 0 new" in r.stdout, "apply is idempotent", "merged 0 new", r.stdout)
    check(status(vd)["rules"] == len(rules), "rules in force after apply", len(rules), status(vd)["rules"])

    r = vd.vigil("aac", "mode", "enforce")
    check(r.returncode == 0, "mode enforce", 0, (r.returncode, r.stderr))
    check(run([t])[0] == 0 and run([tool])[0] == 0, "learned binaries run in enforce", 0, (run([t]), run([tool])))
    check(run([risky])[0] == -1001, "risky binary blocked", -1001, run([risky]))
    check(run([f])[0] == -1001, "never-seen binary blocked", -1001, run([f]))
    # adaptive: a new binary matching the trusted package is allowed but reported
    shutil.copy2("/bin/ls", tool2)
    rc, out = run([tool2, "/"])
    check(rc == 0, "new binary from a trusted package runs", 0, (rc, out))
    rec = wait_alert_for(vd, tool2, "audited", rule="aac_recommendation")
    check(rec["file"]["package"] == "vigiltest-tools", "recommendation names the package", "vigiltest-tools", rec["file"])
    # the same path with content that does not match the package is not trusted
    shutil.copy2("/bin/true", tool2)
    check(run([tool2])[0] == -1001, "package file with foreign content", -1001, run([tool2]))

    # restart: mode override, rules and verdicts come back
    vd.stop()
    check(run([f])[0] == 1, "no enforcement while the daemon is stopped", 1, run([f]))
    restart(vd)
    st = status(vd)
    check(st["mode"] == "enforce" and st["mode_override"] == "enforce", "mode kept across restart", "enforce", st)
    check(run([t])[0] == 0 and run([f])[0] == -1001 and run([risky])[0] == -1001, "same verdicts after restart",
          (0, -1001, -1001), (run([t])[0], run([f])[0], run([risky])[0]))
    check(st["learned"] >= 3, "learning store kept across restart", ">= 3", st["learned"])

    # SIGKILL while enforcing, with execs in flight: nobody hangs, fail-open afterwards
    load = subprocess.Popen([helper("aac_exec"), "spawn", "2000", t], stdout=subprocess.PIPE, text=True)
    on_cleanup(lambda: load.poll() is None and load.kill())
    time.sleep(0.3)
    vd.proc.send_signal(signal.SIGKILL)
    vd.proc.wait()
    out, _ = load.communicate(timeout=60)
    check("failed=0" in out, "execs in flight at SIGKILL all complete", "failed=0", out)
    check(run([f], timeout=10)[0] == 1, "documented fail-open after the daemon died", 1, run([f]))
    restart(vd)
    check(run([f])[0] == -1001, "restart after SIGKILL enforces again", -1001, run([f]))
    vd.stop()
test_learn_recommend_apply_enforce_restart_and_sigkill.timeout = 300


def test_mode_switch_under_load():
    mnt, b = setup_fs()
    t, f = os.path.join(b, "true"), os.path.join(b, "false")
    with Daemon(aac_policy(mnt, "audit", [ph(t)])) as vd:
        load = subprocess.Popen([helper("aac_exec"), "spawn", "3000", t], stdout=subprocess.PIPE, text=True)
        on_cleanup(lambda: load.poll() is None and load.kill())
        results = []
        stop = threading.Event()

        def attempts():
            while not stop.is_set():
                results.append(run([f])[0])
                time.sleep(0.02)
        th = threading.Thread(target=attempts)
        th.start()
        try:
            for i in range(8):
                r = vd.vigil("aac", "mode", "enforce" if i % 2 == 0 else "audit")
                check(r.returncode == 0, "mode switch", 0, (r.returncode, r.stderr))
                time.sleep(0.4)
        finally:
            stop.set()
            th.join()
        out, _ = load.communicate(timeout=120)
        check("failed=0" in out, "allowed execs never failed during the switches", "failed=0", out)
        ran, blocked = results.count(1), results.count(-1001)
        check(ran + blocked == len(results), "every attempt ran or got EPERM", len(results), (ran, blocked))
        check(ran > 0 and blocked > 0, "both modes were exercised", "> 0 each", (ran, blocked))
        vd.settle(1.5)
        als = aac_alerts(vd, f)
        na, nb = sum(a["action"] == "audited" for a in als), sum(a["action"] == "blocked" for a in als)
        check(nb == blocked, "every blocked attempt alerted", blocked, nb)
        check(na == ran, "every attempt that ran was audited (no unchecked window)", ran, na)
test_mode_switch_under_load.timeout = 240


def test_bad_input_and_self_protection():
    mnt, b = setup_fs()
    d = tmpdir()
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as fh:
        json.dump(policy(aac={"mode": "enforce", "rules": [{"kind": "hash", "sha256": "abc123"}]}), fh, indent=1)
    r = subprocess.run([VIGIL, "policy", "check", bad], capture_output=True, text=True)
    check(r.returncode == 2 and f"{bad}:" in r.stderr and "/aac/rules/0/sha256" in r.stderr
          and "64 hexadecimal digits, got 6" in r.stderr, "wrong-length hash rejected with position",
          "file:line:col ... 64 hexadecimal digits", r.stderr)
    with Daemon(aac_policy(mnt, "audit", [])) as vd:
        before = open(vd.policy_path).read()
        cases = {
            "syntax.json": ('{"aac": {"rules": [\n  {"kind": "hash",, "sha256": "x"}]}}', "syntax.json:2:"),
            "kind.json": ('{"aac": {"rules": [\n  {"kind": "pathglob", "pattern": "/x"}]}}',
                          "syntax"),
            "hex.json": ('{"aac": {"rules": [\n  {"kind": "hash", "sha256": "' + "g" * 64 + '"}]}}',
                         "hex.json:2:"),
            "key.json": ('{"aac": {"rules": []},\n "extra": 1}', "key.json:2:"),
        }
        for name, (text, want) in cases.items():
            p = os.path.join(d, name)
            with open(p, "w") as fh:
                fh.write(text)
            r = vd.vigil("aac", "apply", p)
            if name == "kind.json":
                want = "kind.json:2:4: /aac/rules/0/kind: unknown rule kind"
            check(r.returncode == 2 and want in r.stderr and "nothing applied" in r.stderr,
                  f"malformed proposal {name}", want, r.stderr)
        check(open(vd.policy_path).read() == before, "policy file untouched by bad proposals", "unchanged", "changed")
        # a policy that would deny the vigil command or the shell running it is refused
        own = os.path.join(b, "vigil")
        shutil.copy2(VIGIL, own)
        env = dict(os.environ, VIGIL_SOCKET=vd.socket)
        r = subprocess.run([own, "aac", "mode", "enforce"], capture_output=True, text=True, env=env, timeout=30)
        check(r.returncode == 2 and "refused" in r.stderr and "the vigil command" in r.stderr and own in r.stderr,
              "enforce refused for the vigil binary", "refused ... the vigil command", r.stderr)
        sh = os.path.join(b, "dash")
        r = subprocess.run([sh, "-c", f"{VIGIL} aac mode enforce"], capture_output=True, text=True, env=env, timeout=30)
        check(r.returncode == 2 and "the shell running vigil" in r.stderr, "enforce refused for the shell",
              "refused ... the shell running vigil", r.stderr)
        check(status(vd)["mode"] == "audit", "mode unchanged after refusals", "audit", status(vd)["mode"])
        r = vd.vigil("aac", "mode", "bogus")
        check(r.returncode == 2 and "unknown mode" in r.stderr, "unknown mode", "unknown mode", r.stderr)
test_bad_input_and_self_protection.timeout = 180


def test_learn_keeps_the_hash_of_an_image_that_execs_again():
    """A process that execs twice in a row (env -> bash) must be learned with env's hash:
    /proc/<pid>/exe already names bash when the first record is read."""
    mnt, b = setup_fs()
    env = os.path.join(b, "env")
    shutil.copy2("/usr/bin/env", env)
    with Daemon(aac_policy(mnt, "learn", [])) as vd:
        for _ in range(10):   # the second image lives on while the first record is read
            check(run([env, "/bin/sleep", "0.2"])[0] == 0, "env sleep runs")
        deadline = time.time() + 10
        entries = []
        while time.time() < deadline:
            learned = json.loads(vd.vigil("aac", "learned", "--json").stdout)
            entries = [e for e in learned if e["path"] == env]
            if sum(e["count"] for e in entries) >= 10:
                break
            time.sleep(0.2)
        check(sum(e["count"] for e in entries) >= 10, "every exec of env learned", 10, entries)
        check({e["sha256"] for e in entries} == {sha(env)}, "only env's own hash", sha(env),
              [(e["sha256"], e["count"]) for e in entries])
