#!/usr/bin/env python3
"""B10: vigil-scored ingest rate (bodies serialised before the clock starts) and fleet-score latency (BENCH.md).

Starts build/vigil-scored on loopback with a fresh database, then
  1. posts alert batches (500 alerts each, keep-alive) and reports alerts/s
     stored (median of 5 rounds),
  2. registers 1,000 hosts, posts a 27-recommendation posture snapshot for
     each, and reports the median ms of GET /api/v1/score (client side and the
     server's own compute_ms) and of GET /api/v1/recommendations, interleaved.
Prints one line per figure: "B10 name value unit goal verdict", and a JSON line.
Usage: tools/bench_scored.py [--hosts N] [--alerts N]
"""
import argparse, http.client, json, os, random, signal, socket, sqlite3, statistics, subprocess, tempfile, time, uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCORED = os.path.join(ROOT, "build", "vigil-scored")
CONTROLS = ["mgmt_ports", "runtime_health", "harden_os", "protect_accounts", "app_control", "file_integrity"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def req(conn, method, path, token, body=None):
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body)
    conn.request(method, path, body=body,
                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: HTTP {r.status}: {data[:200]!r}")
    return json.loads(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--alerts", type=int, default=20000, help="alerts per round")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="bench-scored-")
    db = os.path.join(d, "scored.db")
    tok = lambda name, role="agent": subprocess.run([SCORED, "--db", db, "token", "add", name, "--role", role],
                                                     capture_output=True, text=True, check=True).stdout.strip()
    agent, reader = tok("bench-agent"), tok("bench-reader", "reader")
    port = free_port()
    srv = subprocess.Popen([SCORED, "--db", db, "--listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # 1. ingest
        rates = []
        for rnd in range(5):
            batches = []
            for b in range(a.alerts // 500):
                batches.append(json.dumps({"alerts": [{
                    "id": uuid.uuid4().hex, "time": "2026-01-01T00:00:%02d.%06dZ" % (i % 60, i),
                    "rule": random.choice(["exec_world_writable", "aac_denied", "fim_change", "jit_bruteforce"]),
                    "title": "bench", "severity": random.choice(["low", "medium", "high"]), "host": "bench-agent",
                    "mitre": {"tactic": "TA0002", "technique": "T1204.002"}, "action": "audited",
                    "process": {"pid": i, "exe": "/usr/bin/true", "cmdline": "true x"}} for i in range(500)]}
                ).encode())
            t0 = time.perf_counter()
            for body in batches:
                req(conn, "POST", "/api/v1/alerts", agent, body)
            rates.append(len(batches) * 500 / (time.perf_counter() - t0))
        ingest = statistics.median(rates)
        # 2. fleet of N hosts (tokens written straight into the database: same hash as `token add`)
        import hashlib
        hosts = [f"h{i:05d}" for i in range(a.hosts)]
        toks = {h: uuid.uuid4().hex + uuid.uuid4().hex for h in hosts}
        with sqlite3.connect(db) as c:
            c.executemany("INSERT INTO tokens(hash, name, role, created_ns) VALUES(?,?,'agent',0)",
                          [(hashlib.sha256(toks[h].encode()).hexdigest(), h) for h in hosts])
        for h in hosts:
            recs = [{"id": f"rec.{k}", "title": f"rec {k}", "control": CONTROLS[k % 6], "severity": "medium",
                     "status": random.choice(["healthy", "healthy", "unhealthy", "not_applicable"]),
                     "evidence": {"k": k}} for k in range(27)]
            req(conn, "POST", "/api/v1/posture", toks[h], {"host": h, "kernel": "6.18", "agent_version": "0.1.0",
                                                           "recommendations": recs})
        score_ms, server_ms, rec_ms = [], [], []
        for _ in range(15):
            t0 = time.perf_counter()
            s = req(conn, "GET", "/api/v1/score", reader)
            score_ms.append((time.perf_counter() - t0) * 1000)
            server_ms.append(s["compute_ms"])
            t0 = time.perf_counter()
            req(conn, "GET", "/api/v1/recommendations?limit=10", reader)
            rec_ms.append((time.perf_counter() - t0) * 1000)
        assert s["hosts"] == a.hosts, s["hosts"]
        res = {"alerts_per_s": round(ingest), "score_ms": round(statistics.median(score_ms), 2),
               "score_server_ms": round(statistics.median(server_ms), 2),
               "recommendations_ms": round(statistics.median(rec_ms), 2), "hosts": a.hosts,
               "fleet_percent": s["score"]["percent"]}
        print(f"B10 alerts_ingested {res['alerts_per_s']} alerts/s goal>=5000 "
              f"{'ok' if ingest >= 5000 else 'FAIL'} (ratio to goal {ingest / 5000:.2f})")
        print(f"B10 fleet_score_{a.hosts}_hosts {res['score_ms']} ms goal<=100 "
              f"{'ok' if res['score_ms'] <= 100 else 'FAIL'} (server {res['score_server_ms']} ms; ratio to goal "
              f"{res['score_ms'] / 100:.2f})")
        print(f"B10 recommendations_{a.hosts}_hosts {res['recommendations_ms']} ms")
        print(json.dumps({"B10": res}))
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
