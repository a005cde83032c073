"""vigil-scored (the scoring service) and the forwarder: a real service on
loopback, agents posting posture and alerts, the fleet score and ranking, bad
input rejected with nothing stored, and at-least-once delivery through a
service outage and an agent restart with every alert stored exactly once.
"""
import json, os, shutil, signal, socket, subprocess, time, urllib.error, urllib.request, uuid

from vigiltest import BUILD, Daemon, check, on_cleanup, policy, tmpdir, VIGIL

SCORED = os.path.join(BUILD, "vigil-scored")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Scored:
    """A vigil-scored on 127.0.0.1 with a private database; stopped at cleanup."""

    def __init__(self, db=None, port=None):
        self.dir = tmpdir("scored-")
        self.db = db or os.path.join(self.dir, "scored.db")
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        on_cleanup(self.stop)

    def token(self, name, role="agent"):
        r = subprocess.run([SCORED, "--db", self.db, "token", "add", name, "--role", role],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "token add exit", 0, (r.returncode, r.stderr))
        return r.stdout.strip()

    def start(self):
        self.err = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen([SCORED, "--db", self.db, "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=self.err, stderr=self.err)
        deadline = time.time() + 10
        while time.time() < deadline:
            check(self.proc.poll() is None, "vigil-scored running", None, self.log())
            try:
                if self.request("GET", "/api/v1/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"vigil-scored not ready: {self.log()}")

    def log(self):
        with open(os.path.join(self.dir, "stderr.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(self, method, path, token=None, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path, token):
        st, body = self.request("GET", path, token)
        check(st == 200, f"GET {path}", 200, (st, body))
        return body


def _rec(id, control, status, sev="medium"):
    return {"id": id, "title": id, "control": control, "severity": sev, "status": status,
            "fix": {"automated": False}}


def _snapshot(host, recs):
    return {"host": host, "kernel": "6.18.0", "agent_version": "0.1.0", "backends": {"xdp": True},
            "time": "2026-01-01T00:00:00Z", "recommendations": recs}


def test_fleet_score_and_ranking():
    sc = Scored()
    ta, tb, rd = sc.token("agent-a"), sc.token("agent-b"), sc.token("ops", "reader")
    sc.start()
    # agent-a: harden_os 3 of 4 healthy, mgmt_ports unhealthy, app_control n/a
    a = [_rec(f"os.{i}", "harden_os", "unhealthy" if i == 0 else "healthy") for i in range(4)]
    a += [_rec("ports", "mgmt_ports", "unhealthy", "high"), _rec("aac", "app_control", "not_applicable")]
    # agent-b: harden_os 1 of 4 healthy, mgmt_ports healthy, app_control unknown
    b = [_rec(f"os.{i}", "harden_os", "healthy" if i == 3 else "unhealthy") for i in range(4)]
    b += [_rec("ports", "mgmt_ports", "healthy", "high"), _rec("aac", "app_control", "unknown")]
    for tok, host, recs in ((ta, "agent-a", a), (tb, "agent-b", b)):
        st, body = sc.request("POST", "/api/v1/posture", tok, _snapshot(host, recs))
        check(st == 200, f"posture of {host}", 200, (st, body))
    s = sc.get("/api/v1/score", rd)
    # harden_os: 4 x 4/8 = 2; mgmt_ports: 8 x 1/2 = 4; app_control has nothing evaluable:
    # (2 + 4) / (4 + 8) = 50 %
    check(abs(s["score"]["percent"] - 50.0) < 0.01, "fleet score", 50.0, s["score"])
    check(s["hosts"] == 2, "hosts in the fleet", 2, s["hosts"])
    ctl = {c["id"]: c for c in s["controls"]}
    check(ctl["app_control"]["evaluable"] is False and ctl["app_control"]["current"] == 0,
          "app_control not evaluable", False, ctl["app_control"])
    r = sc.get("/api/v1/recommendations", rd)["recommendations"]
    seen = [(x["id"], x["potential_increase"]) for x in r[:5]]
    # ports: 8/2 x 1 = 4; os.0: 4/8 x 2 = 1; os.1, os.2: 4/8 x 1 = 0.5; os.3 0
    want = [("ports", 4.0), ("os.0", 1.0), ("os.1", 0.5), ("os.2", 0.5), ("aac", 0.0)]
    check(seen[:4] == want[:4], "ranking by potential increase", want[:4], seen[:4])
    inv = {h["host"]: h for h in sc.get("/api/v1/hosts", rd)["hosts"]}
    check(set(inv) == {"agent-a", "agent-b"}, "inventory", {"agent-a", "agent-b"}, set(inv))
    # agent-a: harden_os 3 + mgmt 0 of 12 = 25 %; agent-b: 1 + 8 of 12 = 75 %
    check(abs(inv["agent-a"]["score"] - 25.0) < 0.01 and abs(inv["agent-b"]["score"] - 75.0) < 0.01,
          "per-host scores", (25.0, 75.0), (inv["agent-a"]["score"], inv["agent-b"]["score"]))
    check(inv["agent-a"]["kernel"] == "6.18.0" and inv["agent-a"]["agent_version"] == "0.1.0",
          "inventory fields", "6.18.0/0.1.0", inv["agent-a"])
    # the CLI shows the same numbers
    tf = os.path.join(sc.dir, "reader.token")
    with open(tf, "w") as f:
        f.write(rd)
    out = subprocess.run([VIGIL, "score", "--server", sc.url, "--token-file", tf, "--json"],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "vigil score --server exit", 0, (out.returncode, out.stderr))
    j = json.loads(out.stdout)
    check(abs(j["score"]["percent"] - 50.0) < 0.01, "vigil score percent", 50.0, j["score"])
    check(j["recommendations"][0]["id"] == "ports", "vigil score top recommendation", "ports",
          j["recommendations"][0]["id"])
    out = subprocess.run([VIGIL, "score", "--server", sc.url, "--token-file", tf],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0 and "50%" in out.stdout and "Secure management ports" in out.stdout,
          "vigil score table", "50% and the controls", out.stdout + out.stderr)


def test_bad_input_rejected():
    sc = Scored()
    ta, rd, op = sc.token("agent-a"), sc.token("ops", "reader"), sc.token("boss", "operator")
    sc.start()
    good = {"id": "g1", "time": "2026-01-01T00:00:00Z", "rule": "r", "severity": "high",
            "host": "agent-a", "title": "t"}
    cases = [
        ("wrong token", "POST", "/api/v1/alerts", "f" * 64, json.dumps({"alerts": [good]}).encode(), 401),
        ("no token", "POST", "/api/v1/alerts", None, json.dumps({"alerts": [good]}).encode(), 401),
        ("reader token posting", "POST", "/api/v1/alerts", rd, json.dumps({"alerts": [good]}).encode(), 403),
        ("malformed JSON", "POST", "/api/v1/alerts", ta, b'{"alerts": [', 400),
        ("wrong type", "POST", "/api/v1/alerts", ta, json.dumps({"alerts": [dict(good, severity=3)]}).encode(), 400),
        ("one bad alert in a batch", "POST", "/api/v1/alerts", ta,
         json.dumps({"alerts": [good, dict(good, id="g2", time="soon")]}).encode(), 400),
        ("other host", "POST", "/api/v1/alerts", ta, json.dumps({"alerts": [dict(good, host="agent-b")]}).encode(), 403),
        ("oversized", "POST", "/api/v1/alerts", ta, b'{"alerts": ["' + b"x" * (9 << 20) + b'"]}', 413),
        ("bad posture", "POST", "/api/v1/posture", ta,
         json.dumps(_snapshot("agent-a", [_rec("x", "harden_os", "passing")])).encode(), 400),
        ("jit for unknown host", "POST", "/api/v1/jit", op,
         json.dumps({"host": "ghost", "port": 22, "source": "10.0.0.1", "duration": "1h",
                     "justification": "x"}).encode(), 404),
    ]
    for what, method, path, tok, raw, want in cases:
        st, body = sc.request(method, path, tok, raw=raw)
        check(st == want, what, want, (st, body))
        check(isinstance(body, dict) and isinstance(body.get("error"), str), f"{what}: JSON error", "error", body)
    alerts = sc.get("/api/v1/alerts", rd)
    check(alerts["count"] == 0, "alerts stored after bad input", 0, alerts)
    st, body = sc.request("GET", "/api/v1/hosts/agent-a", rd)
    check(st == 404, "no host row from rejected input", 404, (st, body))
    # the good alert alone is accepted, twice posted, stored once
    for _ in range(2):
        st, body = sc.request("POST", "/api/v1/alerts", ta, {"alerts": [good]})
        check(st == 200, "good alert", 200, (st, body))
    check(sc.get("/api/v1/alerts", rd)["count"] == 1, "good alert stored once", 1, sc.get("/api/v1/alerts", rd))


def _ww_exec(d, marker):
    """Runs a copy of true from a world-writable directory: vigild's exec_world_writable alert."""
    subprocess.run([os.path.join(d, "xtrue"), marker], timeout=10, check=True)


def _agent_policy(sc, token_file, host):
    return policy(host={"name": host},
                  forward={"url": sc.url, "token_file": token_file, "batch": 4, "interval_s": 1,
                           "connect_timeout_ms": 500, "timeout_ms": 3000,
                           "posture": {"interval_s": 3600, "sysctl_dir": os.path.join(sc.dir, "sysctl.d")}})


def _wait(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


def test_forward_exactly_once_through_outage():
    host = "fwd-" + uuid.uuid4().hex[:8]
    sc = Scored()
    tok, rd = sc.token(host), sc.token("ops", "reader")
    tf = os.path.join(sc.dir, "agent.token")
    with open(tf, "w") as f:
        f.write(tok + "\n")
    os.chmod(tf, 0o600)
    sc.start()
    d = tmpdir("vigiltest-ww-")
    os.chmod(d, 0o1777)
    shutil.copy("/usr/bin/true", os.path.join(d, "xtrue"))
    vd = Daemon(_agent_policy(sc, tf, host))

    def stored():
        return sc.get(f"/api/v1/alerts?host={host}&limit=1000", rd)["alerts"]

    # 1. service up: alerts arrive, and the agent's posture too
    for i in range(3):
        _ww_exec(d, f"up-{i}")
    _wait(lambda: len([a for a in stored() if a["rule"] == "exec_world_writable"]) >= 3, 30, "first alerts stored")
    _wait(lambda: sc.request("GET", f"/api/v1/hosts/{host}", rd)[0] == 200 and
          len(sc.get(f"/api/v1/hosts/{host}", rd)["recommendations"]) >= 25, 30, "agent posture stored")
    # 2. service down: alerts are spooled, the agent restarts in the middle
    sc.stop()
    for i in range(6):
        _ww_exec(d, f"down-{i}")
    _wait(lambda: len([a for a in vd.alerts() if a["rule"] == "exec_world_writable"]) >= 9, 20, "alerts written while down")
    st = vd.status()
    check(st["forward"]["failures"] >= 0 and st["forward"]["spool"]["dropped"] == 0, "spool while down",
          "no drops", st["forward"])
    vd.stop()
    vd.start()
    for i in range(4):
        _ww_exec(d, f"restart-{i}")
    _wait(lambda: len([a for a in vd.alerts() if a["rule"] == "exec_world_writable"]) >= 13, 20, "alerts after restart")
    time.sleep(1.5)             # the sender fails at least once more against the closed port
    # 3. service back (same database): everything is delivered, each alert once
    sc.start()
    want = {a["id"] for a in vd.alerts()}
    got = _wait(lambda: (lambda s: s if want <= {a["id"] for a in s} else None)(stored()), 90,
                "every alert of alerts.jsonl stored")
    ids = [a["id"] for a in got]
    final = {a["id"] for a in vd.alerts()}       # the agent may have written more meanwhile
    check(len(ids) == len(set(ids)), "each alert stored once", len(set(ids)), len(ids))
    check(set(ids) <= final, "stored alerts are the agent's", sorted(final), sorted(ids))
    st = vd.status()["forward"]
    check(st["spool"]["dropped"] == 0 and st["rejected"] == 0, "no loss in the forwarder", 0, st)
    check(st["failures"] >= 1, "the outage was seen (failures counted)", ">= 1", st["failures"])


test_forward_exactly_once_through_outage.timeout = 240


def test_forward_spool_bound_counts_overflow():
    host = "ovf-" + uuid.uuid4().hex[:8]
    sc = Scored()                                   # never started: the service stays down
    tf = os.path.join(sc.dir, "agent.token")
    with open(tf, "w") as f:
        f.write(sc.token(host) + "\n")
    os.chmod(tf, 0o600)
    pol = _agent_policy(sc, tf, host)
    pol["forward"]["spool_max_bytes"] = 65536
    vd = Daemon(pol)
    d = tmpdir("vigiltest-ww-")
    os.chmod(d, 0o1777)
    shutil.copy("/usr/bin/true", os.path.join(d, "xtrue"))
    for i in range(120):
        _ww_exec(d, f"ovf-{i}-" + "x" * 200)
    _wait(lambda: len([a for a in vd.alerts() if a["rule"] == "exec_world_writable"]) >= 120, 30, "alerts written")
    st = vd.status()["forward"]["spool"]
    check(st["bytes"] <= 65536, "spool within its bound", "<= 65536", st)
    check(st["dropped"] > 0, "overflow counted", "> 0", st)
    # posture reports the loss
    p = json.loads(vd.vigil("posture", "--json").stdout)
    loss = [r for r in p["recommendations"] if r["id"] == "vigil.event_loss"][0]
    check(loss["status"] == "unhealthy" and "spool" in loss.get("reason", ""), "posture shows the spool overflow",
          "unhealthy (spool)", loss)
