"""vigil-scored (the scoring service) and the forwarder: a real service on
loopback, agents posting posture and alerts, the fleet score and ranking, bad
input rejected with nothing stored, and at-least-once delivery through a
service outage and an agent restart with every alert stored exactly once.
"""
import calendar, json, os, shutil, signal, socket, subprocess, sys, time, urllib.error, urllib.request, uuid

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

    def token_file(self, name, role="agent"):
        """A new token for name written to a 0600 file (what forward.token_file names); its path."""
        tf = os.path.join(self.dir, f"{name}.token")
        with open(tf, "w") as f:
            f.write(self.token(name, role) + "\n")
        os.chmod(tf, 0o600)
        return tf

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


def test_score_json_two_decimals():
    """Scores are written with the 2 decimals the score model displays (2.67 points, 52.38 %), in
    the service's JSON and in `vigil score --json`: no binary-float noise such as 2.6699999999999999."""
    sc = Scored()
    ta, rd = sc.token("agent-a"), sc.token("ops", "reader")
    sc.start()
    # harden_os (max 4): 2 of 3 healthy; app_control (max 3): 1 of 3 healthy
    recs = [_rec(f"os.{i}", "harden_os", "unhealthy" if i == 0 else "healthy") for i in range(3)]
    recs += [_rec(f"aac.{i}", "app_control", "healthy" if i == 0 else "unhealthy") for i in range(3)]
    st, body = sc.request("POST", "/api/v1/posture", ta, _snapshot("agent-a", recs))
    check(st == 200, "posture of agent-a", 200, (st, body))
    hard, aac = 4 * 2 / 3, 3 * 1 / 3
    # the published model's numbers, rounded to 2 decimals and written the shortest way
    want = {"percent": str(round(100 * (hard + aac) / 7, 2)), "current": str(round(hard + aac, 2)),
            "harden_os": str(round(hard, 2)), "os.0": str(round(4 / 3, 2))}
    check(want == {"percent": "52.38", "current": "3.67", "harden_os": "2.67", "os.0": "1.33"},
          "expected values", "52.38/3.67/2.67/1.33", want)

    def seen(j):
        # numbers as the JSON text wrote them (parse_float keeps the literal)
        ctl = {c["id"]: c for c in j["controls"]}
        rec = {r["id"]: r for r in j["recommendations"]}
        return {"percent": j["score"]["percent"], "current": j["score"]["current"],
                "harden_os": ctl["harden_os"]["current"], "os.0": rec["os.0"]["potential_increase"]}

    def raw_get(path):
        req = urllib.request.Request(sc.url + path, headers={"Authorization": "Bearer " + rd})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read(), parse_float=str)

    api = raw_get("/api/v1/score")
    api["recommendations"] = raw_get("/api/v1/recommendations")["recommendations"]
    check(seen(api) == want, "scores in the API's JSON", want, seen(api))
    host = raw_get("/api/v1/hosts")["hosts"][0]["score"]
    check(host == want["percent"], "host score in the inventory JSON", want["percent"], host)
    out = subprocess.run([VIGIL, "score", "--server", sc.url, "--json"], env=dict(os.environ, VIGIL_TOKEN=rd),
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "vigil score --json exit", 0, (out.returncode, out.stderr))
    cli = json.loads(out.stdout, parse_float=str)
    check(seen(cli) == want, "scores in vigil score --json", want, seen(cli))


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
    tf, rd = sc.token_file(host), sc.token("ops", "reader")
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
    tf = sc.token_file(host)
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


def _metrics(text):
    """{'name{labels}': value} from a Prometheus text exposition; checks each line's shape."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        series, _, value = line.rpartition(" ")
        check(series and value, "exposition sample line", "series value", line)
        out[series] = float(value)
    return out


def test_metrics_scrape():
    """GET /metrics on a running vigil-scored: exposition format, no token, the numbers
    of the requests made before it (including a 413 refused by the HTTP layer)."""
    sc = Scored()
    ta, tb, rd = sc.token("agent-a"), sc.token("agent-b"), sc.token("ops", "reader")
    sc.start()
    alerts = [{"id": f"m{i}", "time": "2026-01-01T00:00:00Z", "rule": "r", "severity": sev, "host": "agent-a",
               "title": "t"} for i, sev in enumerate(["high", "high", "low", "informational"])]
    check(sc.request("POST", "/api/v1/alerts", ta, {"alerts": alerts})[0] == 200, "alert batch", 200)
    check(sc.request("POST", "/api/v1/alerts", ta, {"alerts": alerts[:2]})[0] == 200, "duplicate batch", 200)
    check(sc.request("POST", "/api/v1/posture", tb, _snapshot("agent-b", [_rec("ports", "mgmt_ports", "healthy")]))[0]
          == 200, "posture", 200)
    for want, args in ((401, ("GET", "/api/v1/score", None)), (403, ("GET", "/api/v1/score", ta)),
                       (400, ("POST", "/api/v1/alerts", ta, {"alerts": 1})), (404, ("GET", "/nope", rd))):
        st, body = sc.request(*args)
        check(st == want, f"{args[0]} {args[1]}", want, (st, body))
    st, _ = sc.request("POST", "/api/v1/alerts", ta, raw=b'{"alerts": ["' + b"x" * (9 << 20) + b'"]}')
    check(st == 413, "oversized batch", 413, st)
    with urllib.request.urlopen(sc.url + "/metrics", timeout=10) as r:      # no Authorization header
        ctype, text = r.headers.get("Content-Type"), r.read().decode()
    check(r.status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          "GET /metrics without a token", "200 text/plain; version=0.0.4", (r.status, ctype))
    m = _metrics(text)
    want = {
        'vigil_scored_alerts_ingested_total{severity="high"}': 2,
        'vigil_scored_alerts_ingested_total{severity="low"}': 1,
        'vigil_scored_alerts_ingested_total{severity="informational"}': 1,
        'vigil_scored_alerts_ingested_total{severity="medium"}': 0,
        "vigil_scored_alert_batches_total": 2,
        "vigil_scored_posture_snapshots_total": 1,
        'vigil_scored_requests_total{method="POST",route="/api/v1/alerts",code="2xx"}': 2,
        'vigil_scored_requests_total{method="POST",route="/api/v1/alerts",code="4xx"}': 2,   # 400 and 413
        'vigil_scored_requests_total{method="GET",route="/api/v1/score",code="4xx"}': 2,
        'vigil_scored_requests_total{method="other",route="unmatched",code="4xx"}': 1,
        'vigil_scored_requests_rejected_total{reason="unauthenticated"}': 1,
        'vigil_scored_requests_rejected_total{reason="forbidden"}': 1,
        'vigil_scored_requests_rejected_total{reason="invalid"}': 1,
        'vigil_scored_requests_rejected_total{reason="not_found"}': 1,
        'vigil_scored_requests_rejected_total{reason="too_large"}': 1,
        "vigil_scored_hosts": 2,
        "vigil_scored_incidents_open": sc.get("/api/v1/incidents?status=open&limit=1000", rd)["count"],
    }
    seen = {k: m.get(k) for k in want}
    check(seen == want, "metrics after the requests", want, seen)
    check(m.get("vigil_scored_store_bytes", 0) >= os.path.getsize(sc.db) > 0, "store size",
          f">= {os.path.getsize(sc.db)}", m.get("vigil_scored_store_bytes"))
    check(0 <= m.get("vigil_scored_uptime_seconds", -1) < 60, "uptime", "0..60 s", m.get("vigil_scored_uptime_seconds"))
    check("# TYPE vigil_scored_requests_total counter" in text and "# TYPE vigil_scored_hosts gauge" in text,
          "TYPE lines", "counter/gauge", text[:400])
    # the scrape counts itself on the next one; the 413 never reached a handler
    m2 = _metrics(urllib.request.urlopen(sc.url + "/metrics", timeout=10).read().decode())
    k = 'vigil_scored_requests_total{method="GET",route="/metrics",code="2xx"}'
    check(m2.get(k) == 1, "scrapes counted", 1, m2.get(k))
    check(sc.get("/api/v1/alerts", rd)["count"] == 4, "alerts stored", 4, sc.get("/api/v1/alerts", rd))


_NS_HTTP = r"""
import json, sys, urllib.error, urllib.request
url, method, token, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
req = urllib.request.Request(url, data=body.encode() if body else None, method=method)
if token: req.add_header("Authorization", "Bearer " + token)
req.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(req, timeout=10) as r: print(r.status); print(r.read().decode() or "null")
except urllib.error.HTTPError as e: print(e.code); print(e.read().decode() or "null")
"""


class NsScored(Scored):
    """vigil-scored on the loopback of network namespace ns (where the agent runs);
    the test talks to it through a client started in the same namespace."""

    def __init__(self, ns):
        self.ns = ns
        super().__init__(port=8700)           # a fresh namespace: any port is free

    def start(self):
        self.err = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{self.ns}", SCORED, "--db", self.db,
                                      "--listen", f"127.0.0.1:{self.port}"], stdout=self.err, stderr=self.err)
        deadline = time.time() + 10
        while time.time() < deadline:
            check(self.proc.poll() is None, "vigil-scored running", None, self.log())
            if self.request("GET", "/api/v1/health")[0] == 200:
                return self
            time.sleep(0.1)
        raise AssertionError(f"vigil-scored not ready: {self.log()}")

    def request(self, method, path, token=None, body=None, raw=None):
        r = subprocess.run(["nsenter", f"--net=/var/run/netns/{self.ns}", sys.executable, "-c", _NS_HTTP,
                            self.url + path, method, token or "", json.dumps(body) if body is not None else ""],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0 or "\n" not in r.stdout:
            return 0, r.stderr.strip()            # not reachable (yet)
        st, _, out = r.stdout.partition("\n")
        return int(st), json.loads(out)


def test_jit_request_through_scored():
    """An operator places JIT requests on vigil-scored; the agent (vigild with XDP on
    a veth in a test netns) fetches them, applies them through its own policy, and
    reports back: a valid one becomes a live grant (vigil jit list, port opens) and
    the service shows it applied with the grant's end time; one for an unprotected
    port and one longer than max_duration are refused with the agent's reason,
    visible on the service, and change nothing on the agent."""
    import test_jit as tj
    tj._n[0] += 100          # this copy of the module must not reuse test_jit's netns names
    net = tj.Net()
    net.start_server()
    host = "jit-" + uuid.uuid4().hex[:8]
    sc = NsScored(net.a)
    tf, op, rd = sc.token_file(host), sc.token("boss", "operator"), sc.token("ops", "reader")
    sc.start()
    pol = net.jit_policy()
    pol["host"] = {"name": host}
    pol["forward"] = {"url": sc.url, "token_file": tf, "interval_s": 1, "connect_timeout_ms": 500,
                      "timeout_ms": 3000, "posture": {"interval_s": 3600, "sysctl_dir": os.path.join(sc.dir, "sysctl.d")}}
    vd = tj.NsDaemon(net, pol)
    tj.expect(net, "connect before any grant", "BLOCKED", src=net.ip_b)

    def place(port, duration, why):
        st, body = sc.request("POST", "/api/v1/jit", op, {"host": host, "port": port, "protocol": "tcp",
                                                           "source": net.ip_b, "duration": duration,
                                                           "justification": why, "requestor": "carol"})
        check(st == 201 and body.get("state") == "pending", f"place {port}/{duration}", "201 pending", (st, body))
        return body["id"]

    def final(rid):
        def done():
            for r in sc.get(f"/api/v1/jit?host={host}", rd)["requests"]:
                if r["id"] == rid and r["state"] in ("applied", "refused"):
                    return r
            return None
        return _wait(done, 30, f"a result for JIT request {rid}")

    # (a) a valid request becomes a live grant
    t_placed = time.time()
    rid = place(tj.PORT, "10m", "incident 42")
    r = final(rid)
    check(r["state"] == "applied", "valid request applied", "applied", r)
    g = r["result"].get("grant") or {}
    lst = tj.grants(vd)
    check(len(lst) == 1 and lst[0]["id"] == g.get("id"), "jit list shows the reported grant", g.get("id"), lst)
    live = lst[0]
    check(live["source"] == f"{net.ip_b}/32" and live["port"] == tj.PORT and live["protocol"] == "tcp",
          "grant source/port", (f"{net.ip_b}/32", tj.PORT), (live["source"], live["port"]))
    check(live["requestor"].get("via") == "scored" and live["requestor"].get("user") == "carol"
          and live["justification"] == "incident 42", "grant requestor", "scored/carol", live)
    check(g.get("end") == live["end"], "service shows the grant's end time", live["end"], g.get("end"))
    end = calendar.timegm(time.strptime(live["end"][:19], "%Y-%m-%dT%H:%M:%S"))
    check(t_placed + 590 <= end <= time.time() + 610, "grant ends 10 min after placing", 600, end - t_placed)
    check(0 < live["remaining_s"] <= 600, "remaining", "<= 600", live["remaining_s"])
    tj.expect(net, "connect from the granted source", "OPEN", src=net.ip_b)
    tj.expect(net, "other source still blocked", "BLOCKED", src=net.ip_b2)

    # (b) requests outside the policy are refused by the agent, with its reason
    before = tj.grants(vd)
    for port, duration, reason in ((2201, "5m", "not protected"), (tj.PORT, "2h", "exceeds the maximum")):
        rid = place(port, duration, "out of policy")
        r = final(rid)
        check(r["state"] == "refused", f"request {port}/{duration} refused", "refused", r)
        why = (r["result"] or {}).get("reason") or ""
        check(reason in why and not (r["result"] or {}).get("grant"), f"refusal reason for {port}/{duration}",
              reason, r["result"])
    after = tj.grants(vd)
    check([(x["id"], x["end"]) for x in after] == [(x["id"], x["end"]) for x in before],
          "grants unchanged by refused requests", before, after)
    h = json.loads(tj.jit(vd, "history", "--json").stdout)
    refused = [e for e in h["history"] if e.get("event") == "refused"]
    check(len(refused) == 2, "agent history records both refusals", 2, h)
    st = vd.status()["forward"]
    check(st["jit_applied"] == 1 and st["jit_refused"] == 2, "forwarder JIT counters", (1, 2),
          (st["jit_applied"], st["jit_refused"]))


test_jit_request_through_scored.timeout = 180


def test_tls_when_given_a_certificate():
    import ssl, http.client
    d = tmpdir("scored-tls-")
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "self-signed certificate", 0, r.stderr[-300:])
    sc = Scored()
    rd = sc.token("ops", "reader")
    sc.err = open(os.path.join(sc.dir, "stderr.log"), "ab")
    sc.proc = subprocess.Popen([SCORED, "--db", sc.db, "--listen", f"127.0.0.1:{sc.port}",
                                "--tls-cert", crt, "--tls-key", key], stdout=sc.err, stderr=sc.err)
    ctx = ssl.create_default_context(cafile=crt)
    status, body = None, None
    deadline = time.time() + 10
    while time.time() < deadline:
        check(sc.proc.poll() is None, "vigil-scored running with TLS", None, sc.log())
        try:
            c = http.client.HTTPSConnection("127.0.0.1", sc.port, context=ctx, timeout=5)
            c.request("GET", "/api/v1/score", headers={"Authorization": f"Bearer {rd}"})
            resp = c.getresponse()
            status, body = resp.status, json.loads(resp.read())
            break
        except (OSError, ssl.SSLError):
            time.sleep(0.1)
    check(status == 200 and "percent" in json.dumps(body), "score over verified TLS", 200, (status, body))
    # plain HTTP to the TLS port is not served
    c = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=5)
    try:
        c.request("GET", "/api/v1/health")
        plain = c.getresponse().status
    except (OSError, http.client.HTTPException):
        plain = None
    check(plain != 200, "plain HTTP refused on the TLS port", "no 200", plain)
