"""Alert/event logs: rotation under load, external logrotate, vigil tail -f, loss accounting."""
import gzip, json, os, signal, subprocess, time, uuid

from vigiltest import Daemon, check, on_cleanup, policy, VIGIL

TRUE = os.path.realpath("/usr/bin/true")


def _all_records(log_dir, base):
    """Every JSON line of base, base.N and base.N.gz in log_dir."""
    out = []
    for name in sorted(os.listdir(log_dir)):
        if not name.startswith(base):
            continue
        path = os.path.join(log_dir, name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as f:
            for line in f:
                out.append(json.loads(line))
    return out


def _spawn_execs(tag, n):
    """n execs of true whose last argument is tag-i; returns once all have run."""
    script = f'for i in $(seq 1 {n}); do {TRUE} {tag}-$i; done'
    subprocess.run(["/bin/sh", "-c", script], check=True, timeout=120)


def test_rotation_under_load_with_external_rename_loses_nothing():
    pol = policy(output={"max_bytes": 64 * 1024, "keep": 50, "compress": True}, sensors={"file": False})
    with Daemon(pol) as vd:
        tag = "rot-" + uuid.uuid4().hex[:8]
        _spawn_execs(tag, 300)
        # an external logrotate moves the live file away in the middle of the load
        moved = os.path.join(vd.log_dir, "events.jsonl.external")
        os.rename(os.path.join(vd.log_dir, "events.jsonl"), moved)
        _spawn_execs(tag, 300)   # the same tags again: each tag must appear exactly twice
        vd.settle(1.5)
        recs = _all_records(vd.log_dir, "events.jsonl")
        seen = {}
        for r in recs:
            if r.get("type") == "exec" and r["process"]["args"][-1].startswith(tag + "-"):
                seen[r["process"]["args"][-1]] = seen.get(r["process"]["args"][-1], 0) + 1
        check(len(seen) == 300, "distinct tagged execs logged", 300, len(seen))
        counts = sorted(set(seen.values()))
        check(counts == [2], "every exec logged exactly once per run", [2], counts)
        rotated = [n for n in os.listdir(vd.log_dir) if n.startswith("events.jsonl.") and n.endswith(".gz")]
        check(len(rotated) >= 2, "size rotation produced gzip files", ">= 2", rotated)
        check(os.path.exists(os.path.join(vd.log_dir, "events.jsonl")), "live file recreated after external rename")


def test_tail_follows_across_rotation():
    pol = policy(output={"max_bytes": 64 * 1024, "keep": 20, "compress": False}, sensors={"file": False})
    d = os.path.join("/var/tmp", "vigiltest-wwx-" + uuid.uuid4().hex[:6])
    os.makedirs(d)
    on_cleanup(lambda: subprocess.run(["rm", "-rf", d]))
    exe = os.path.join(d, "dropper")
    subprocess.run(["cp", TRUE, exe], check=True)
    with Daemon(pol) as vd:
        env = dict(os.environ, VIGIL_LOG_DIR=vd.log_dir)
        tail = subprocess.Popen([VIGIL, "tail", "-f", "-n", "0", "--rule", "exec_world_writable", "--json"],
                                stdout=subprocess.PIPE, env=env)
        on_cleanup(lambda: tail.poll() is None and tail.kill())
        got = set()
        tag = "tail-" + uuid.uuid4().hex[:8]

        def reader():   # drain concurrently, as a person's terminal does
            for line in tail.stdout:
                a = json.loads(line)
                if a["process"]["args"][-1].startswith(tag):
                    got.add(a["process"]["args"][-1])
        import threading
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        time.sleep(0.5)
        n = 150   # each alert is ~1.5 kB: several rotations of a 64 kB file, seconds apart
        # (tail polls every 100 ms; like tail -F it follows rotations slower than its poll)
        subprocess.run(["/bin/sh", "-c", f"for i in $(seq 1 {n}); do {exe} {tag}-$i; sleep 0.03; done"],
                       check=True)
        # first the daemon must have written them all (that is the log's own guarantee) ...
        def logged():
            return {a["process"]["args"][-1] for a in _all_records(vd.log_dir, "alerts.jsonl")
                    if a.get("process") and a["process"]["args"][-1].startswith(tag)}
        deadline = time.time() + 60
        while len(logged()) < n and time.time() < deadline:
            time.sleep(0.2)
        check(len(logged()) == n, "alerts in the log files", n, len(logged()))
        # ... then tail -f must have shown exactly those
        deadline = time.time() + 30
        while len(got) < n and time.time() < deadline:
            time.sleep(0.1)
        tail.terminate()
        tail.wait(5)
        check(len(got) == n, "alerts seen by tail -f across rotations", n, len(got))
        rotated = [x for x in os.listdir(vd.log_dir) if x.startswith("alerts.jsonl.")]
        check(rotated, "the alert log rotated during the test", "rotated files", rotated)


def test_event_loss_is_counted_alerted_and_marks_later_alerts():
    with Daemon(policy(sensors={"file": False})) as vd:
        vd.proc.send_signal(signal.SIGSTOP)
        on_cleanup(lambda: vd.proc.poll() is None and vd.proc.send_signal(signal.SIGCONT))
        # long argv and paths: ~1.5 kB per exec record, 4 MiB ringbuf -> ~3k records fill it
        long = "x" * 900
        subprocess.run(["/bin/sh", "-c", f"for i in $(seq 1 5000); do {TRUE} {long}; done"], check=True,
                       timeout=300)
        vd.proc.send_signal(signal.SIGCONT)
        al = vd.wait_alert(lambda a: a["rule"] == "event_loss", timeout=15)
        lost = {(b["type"], b["cause"]): b["count"] for b in al["loss"]["by"]}
        check(lost.get(("exec", "ringbuf_full"), 0) > 0, "exec ringbuf losses counted", "> 0", lost)
        check(al["loss"]["lost"] == sum(lost.values()), "total", sum(lost.values()), al["loss"]["lost"])
        st = vd.status()
        check(st["loss"]["exec"]["ringbuf_full"] >= lost[("exec", "ringbuf_full")], "status loss counter",
              lost[("exec", "ringbuf_full")], st["loss"]["exec"])
        # an alert raised right after the loss carries the marker
        d = os.path.join("/dev/shm", "vigiltest-" + uuid.uuid4().hex[:6])
        os.makedirs(d)
        on_cleanup(lambda: subprocess.run(["rm", "-rf", d]))
        subprocess.run(["cp", TRUE, os.path.join(d, "x")], check=True)
        m = "loss-" + uuid.uuid4().hex[:8]
        subprocess.run([os.path.join(d, "x"), m], check=True)
        a = vd.wait_alert(lambda a: a["rule"] == "exec_world_writable" and a["process"]["args"][-1] == m)
        check("event_loss_window" in a, "alert inside the loss window is marked", "event_loss_window", list(a))
