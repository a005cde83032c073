"""Incidents in vigil-scored: a real multi-step intrusion on this host, seen by a vigild with
the built-in detection rules and forwarded to a vigil-scored on loopback, becomes one
incident with the right alerts, entities, relations and timeline; the triage round trip
through the API and the CLI; bad updates rejected with 400 and nothing changed.
"""
import json, os, shutil, subprocess, time, uuid

from vigiltest import Daemon, ROOT, VIGIL, check, on_cleanup, policy, tmpdir
from test_scored import Scored

RULES = os.path.join(ROOT, "policies", "rules")


def _wait(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


def _token_file(sc, name, role):
    p = os.path.join(sc.dir, f"{name}.token")
    with open(p, "w") as f:
        f.write(sc.token(name, role) + "\n")
    os.chmod(p, 0o600)
    return p


def _read(p):
    with open(p) as f:
        return f.read().strip()


def _incidents_by_alert(sc, rd, host):
    """{alert id: incident} for every incident of host."""
    out = {}
    for inc in sc.get(f"/api/v1/incidents?host={host}&limit=1000", rd)["incidents"]:
        full = sc.get(f"/api/v1/incidents/{inc['id']}", rd)
        for a in full["alerts"]:
            out[a["id"]] = full
    return out


def _in_lineage(al, pid):
    return al.get("process", {}).get("pid") == pid or any(p.get("pid") == pid for p in al.get("parents", [])[:2])


def test_intrusion_becomes_one_incident():
    host = "inc-" + uuid.uuid4().hex[:8]
    sc = Scored()
    agent_tf = _token_file(sc, host, "agent")
    rd = _read(_token_file(sc, "ops", "reader"))
    sc.start()
    home = os.path.join("/home", "vigiltest-" + uuid.uuid4().hex[:8])
    os.makedirs(os.path.join(home, ".ssh"))
    on_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    ak = os.path.join(home, ".ssh", "authorized_keys")
    d = tmpdir()
    payload = os.path.join(d, "src.bin")
    shutil.copy("/usr/bin/true", payload)
    mycat = os.path.join(d, "mycat")
    shutil.copy("/usr/bin/cat", mycat)
    stage1 = os.path.join(d, "stage1")
    pol = policy(host={"name": host},
                 detections={"enabled": True, "rules_dir": RULES, "dedup_window_s": 60},
                 forward={"url": sc.url, "token_file": agent_tf, "batch": 4, "interval_s": 1,
                          "connect_timeout_ms": 500, "timeout_ms": 3000,
                          "posture": {"interval_s": 3600, "sysctl_dir": os.path.join(sc.dir, "sysctl.d")}})
    with Daemon(pol) as vd:
        # one shell: download -> chmod -> exec from a temp dir, a key planted in
        # authorized_keys, /etc/shadow read by a copied cat (the trailing echo keeps the
        # shell the parent of the last command)
        m = "vt-" + uuid.uuid4().hex[:10]
        script = (f"curl -s -o {stage1} file://{payload} && chmod +x {stage1} && {stage1} {m} && "
                  f"echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIvigiltest {m}' >> {ak} && "
                  f"{mycat} /etc/shadow {m} > /dev/null 2>&1; echo done")
        sh = subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL)
        on_cleanup(lambda: sh.poll() is None and sh.kill())
        check(sh.wait(timeout=30) == 0, "intrusion script exit", 0, sh.returncode)
        want_rules = {"download_chmod_exec", "ssh_authorized_keys_write", "shadow_read"}

        def mine():
            al = [a for a in vd.alerts() if _in_lineage(a, sh.pid)]
            return al if want_rules <= {a["rule"] for a in al} else None
        ours = _wait(mine, 40, "the three detections in alerts.jsonl")
        vd.settle(1.5)                       # any further alert of the chain (e.g. exec_world_writable)
        ours = [a for a in vd.alerts() if _in_lineage(a, sh.pid)]
        ids = {a["id"] for a in ours}
        by_alert = _wait(lambda: (lambda m: m if ids <= set(m) else None)(_incidents_by_alert(sc, rd, host)), 90,
                         "every alert of the intrusion correlated in vigil-scored")
    incs = {by_alert[i]["id"] for i in ids}
    check(len(incs) == 1, "the intrusion's alerts are in one incident", 1,
          {a["rule"]: by_alert[a["id"]]["id"] for a in ours})
    inc = sc.get(f"/api/v1/incidents/{incs.pop()}", rd)
    got = {a["id"]: a for a in inc["alerts"]}
    # other activity on this host may join only through the tactic order, never by lineage
    extra = [a for i, a in got.items() if i not in ids]
    check(all(a["joined_by"] == "kill_chain" for a in extra), "alerts outside the script's lineage",
          "none, or joined by kill_chain", [(a["rule"], a["joined_by"]) for a in extra])
    for i in ids:
        check(got[i]["joined_by"] in ("created", "lineage", "summary"), f"{got[i]['rule']} joined by lineage",
              "created/lineage", got[i]["joined_by"])
    check(want_rules <= {a["rule"] for a in inc["alerts"]}, "the incident's rules", sorted(want_rules),
          sorted(a["rule"] for a in inc["alerts"]))
    check(inc["alert_count"] == len(inc["alerts"]) and inc["status"] == "new" and inc["owner"] is None,
          "a new, unassigned incident with its alert count", len(inc["alerts"]), inc)
    tactics = [t["name"] for t in inc["tactics"]]
    for t in ("Persistence", "Credential Access", "Command and Control"):
        check(t in tactics, f"tactic {t}", t, tactics)
    check(inc["severity"] == "critical", "multi-stage incident above its (high) alerts", "critical", inc["severity"])
    check(inc["title"].startswith(f"Multi-stage attack on {host}:"), "title", "Multi-stage attack on ...", inc["title"])
    ents = inc["entities"]
    files = {e["path"] for e in ents["files"]}
    for f in (stage1, ak, "/etc/shadow"):
        check(f in files, f"file entity {f}", f, sorted(files))
    procs = {e.get("exe") for e in ents["processes"]}
    check(stage1 in procs and mycat in procs, "process entities", [stage1, mycat], sorted(p or "" for p in procs))
    check([e["name"] for e in ents["hosts"]] == [host], "host entity", [host], ents["hosts"])
    check("root" in {e.get("name") for e in ents["users"]}, "user entity", "root", ents["users"])
    sh_node = [e["node"] for e in ents["processes"] if e.get("pid") == sh.pid]
    check(len(sh_node) == 1, "the shell is a process entity", 1, [e["node"] for e in ents["processes"]])
    rels = {(r["from"], r["relation"], r["to"]) for r in inc["relations"]}
    st1 = [e["node"] for e in ents["processes"] if e.get("exe") == stage1][0]
    cat = [e["node"] for e in ents["processes"] if e.get("exe") == mycat][0]
    for edge in ((st1, "child_of", sh_node[0]), (cat, "child_of", sh_node[0]), (cat, "open_read", "file:/etc/shadow"),
                 (st1, "image", "file:" + stage1)):
        check(edge in rels, "relation", edge, sorted(rels))
    # the timeline: creation, then the alerts in the order the script ran them
    tl = inc["timeline"]
    check(any(e["type"] == "created" for e in tl), "timeline has the creation", "created", [e["type"] for e in tl])
    order = [e["rule"] for e in tl if e["type"] == "alert" and e["alert_id"] in ids and e["rule"] in want_rules]
    check(order == ["download_chmod_exec", "ssh_authorized_keys_write", "shadow_read"], "timeline order",
          ["download_chmod_exec", "ssh_authorized_keys_write", "shadow_read"], order)
    times = [e["time"] for e in tl if e["type"] == "alert"]
    check(times == sorted(times), "timeline sorted by time", sorted(times), times)


test_intrusion_becomes_one_incident.timeout = 240


def _alert(id, host, sec, rule, sev, tactic, pid, exe):
    return {"id": id, "time": "2026-03-01T10:%02d:%02dZ" % (sec // 60, sec % 60), "rule": rule, "title": rule,
            "severity": sev, "host": host, "mitre": {"tactic": tactic, "technique": "T1059"},
            "process": {"pid": pid, "ppid": 4242, "exe": exe, "uid": 0, "user": "root"},
            "parents": [{"pid": 4242, "exe": "/usr/bin/bash"}], "container": None, "action": "audited",
            "remediation": "r"}


def _cli(*args, tf):
    return subprocess.run([VIGIL, "incidents", "--token-file", tf, *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, VIGIL_SERVER=""))


def test_triage_round_trip_api_and_cli():
    host = "tri-" + uuid.uuid4().hex[:8]
    sc = Scored()
    ag = _read(_token_file(sc, host, "agent"))
    rd_tf, op_tf = _token_file(sc, "ops", "reader"), _token_file(sc, "boss", "operator")
    rd, op = _read(rd_tf), _read(op_tf)
    sc.start()
    batch = {"alerts": [_alert("x1", host, 1, "reverse_shell", "high", "TA0002", 5001, "/usr/bin/bash"),
                        _alert("x2", host, 5, "shadow_read", "medium", "TA0006", 5002, "/tmp/cat")]}
    for _ in range(2):                       # redelivered: stored and correlated once
        st, body = sc.request("POST", "/api/v1/alerts", ag, batch)
        check(st == 200, "alerts posted", 200, (st, body))
    lst = sc.get("/api/v1/incidents", rd)["incidents"]
    check(len(lst) == 1 and lst[0]["alert_count"] == 2, "one incident of two alerts", 1, lst)
    iid = lst[0]["id"]
    path = f"/api/v1/incidents/{iid}"
    before = sc.get(path, rd)
    # bad updates: 400 (403 for a reader), nothing changed
    bad = [("unknown status", "PATCH", path, op, {"status": "resolved"}, 400),
           ("close without classification", "PATCH", path, op, {"status": "closed"}, 400),
           ("close endpoint without classification", "POST", path + "/close", op, {"comment": "done"}, 400),
           ("unknown classification", "POST", path + "/close", op, {"classification": "fine"}, 400),
           ("bad severity with a good owner", "PATCH", path, op, {"owner": "x", "severity": "urgent"}, 400),
           ("reader may not triage", "PATCH", path, rd, {"owner": "x"}, 403),
           ("unknown incident", "PATCH", "/api/v1/incidents/999999", op, {"owner": "x"}, 404)]
    for what, method, p, tok, body, want in bad:
        st, reply = sc.request(method, p, tok, body)
        check(st == want and isinstance(reply.get("error"), str), what, want, (st, reply))
    after = sc.get(path, rd)
    for o in (before, after):
        o.pop("updated")
    check(after == before, "nothing changed by rejected updates", before, after)
    # the CLI: list, assign, comment, refuse to close without classification, close
    url = sc.url
    r = _cli("--server", url, "list", "--json", tf=rd_tf)
    check(r.returncode == 0 and [i["id"] for i in json.loads(r.stdout)["incidents"]] == [iid], "vigil incidents list",
          [iid], (r.returncode, r.stdout, r.stderr))
    r = _cli("--server", url, "list", tf=rd_tf)
    check(r.returncode == 0 and "Multi-stage attack on" in r.stdout and "critical" in r.stdout, "list table",
          "title and severity", r.stdout + r.stderr)
    r = _cli("--server", url, "assign", str(iid), "carol", tf=rd_tf)
    check(r.returncode == 1 and "403" in r.stderr, "a reader token is denied (exit 1)", 1, (r.returncode, r.stderr))
    r = _cli("--server", url, "assign", str(iid), "carol", tf=op_tf)
    check(r.returncode == 0 and "owner carol" in r.stdout, "assign", "owner carol", (r.returncode, r.stdout, r.stderr))
    r = _cli("--server", url, "update", str(iid), "--status", "active", "--tags", "webshell,prod", tf=op_tf)
    check(r.returncode == 0 and "status active" in r.stdout, "update", "status active", (r.stdout, r.stderr))
    r = _cli("--server", url, "comment", str(iid), "parent is the web server", tf=op_tf)
    check(r.returncode == 0, "comment", 0, (r.returncode, r.stderr))
    r = _cli("--server", url, "close", str(iid), tf=op_tf)
    check(r.returncode == 2 and "classification" in r.stderr, "close without --classification", 2,
          (r.returncode, r.stderr))
    r = _cli("--server", url, "close", str(iid), "--classification", "bogus", tf=op_tf)
    check(r.returncode == 2 and "HTTP 400" in r.stderr, "close with a bad classification", 2, (r.returncode, r.stderr))
    check(sc.get(path, rd)["status"] == "active", "still active after refused closes", "active",
          sc.get(path, rd)["status"])
    r = _cli("--server", url, "close", str(iid), "--classification", "true-positive", "--comment", "host rebuilt",
             tf=op_tf)
    check(r.returncode == 0 and "closed" in r.stdout, "close", "closed", (r.returncode, r.stdout, r.stderr))
    r = _cli("--server", url, "show", str(iid), "--json", tf=rd_tf)
    check(r.returncode == 0, "show", 0, (r.returncode, r.stderr))
    inc = json.loads(r.stdout)
    check((inc["status"], inc["owner"], inc["classification"], inc["classification_comment"], inc["tags"]) ==
          ("closed", "carol", "true_positive", "host rebuilt", ["webshell", "prod"]), "triaged incident",
          ("closed", "carol", "true_positive", "host rebuilt", ["webshell", "prod"]), inc)
    check([c["text"] for c in inc["comments"]] == ["parent is the web server", "host rebuilt"] and
          all(c["author"] == "boss" for c in inc["comments"]), "comments with their author",
          ["parent is the web server", "host rebuilt"], inc["comments"])
    kinds = [e["type"] for e in inc["timeline"]]
    for k in ("created", "alert", "owner", "status", "tags", "comment", "closed", "classified"):
        check(k in kinds, f"timeline entry {k}", k, kinds)
    r = _cli("--server", url, "show", str(iid), tf=rd_tf)
    check(r.returncode == 0 and "true_positive" in r.stdout and "Timeline:" in r.stdout and "/tmp/cat" in r.stdout,
          "show text", "classification, timeline, entities", r.stdout)
    # filters and search over the API
    for q, n in (("status=closed", 1), ("status=open", 0), ("owner=carol", 1), ("search=webshell", 1),
                 ("search=" + str(iid), 1), ("search=runtime%20detections", 1), ("search=nothing-like-it", 0),
                 ("severity=critical", 1), ("severity=high", 0)):
        got = sc.get("/api/v1/incidents?" + q, rd)["incidents"]
        check(len(got) == n, f"list ?{q}", n, [i["id"] for i in got])
    st, body = sc.request("GET", "/api/v1/incidents?status=resolved", rd)
    check(st == 400, "unknown status filter", 400, (st, body))
    # a closed incident takes no new alerts: the same lineage opens a new incident
    st, body = sc.request("POST", "/api/v1/alerts", ag,
                          {"alerts": [_alert("x3", host, 9, "reverse_shell", "high", "TA0002", 5001, "/usr/bin/bash")]})
    check(st == 200, "alert after close", 200, (st, body))
    lst = sc.get("/api/v1/incidents?status=new", rd)["incidents"]
    check(len(lst) == 1 and lst[0]["id"] != iid and lst[0]["alert_count"] == 1, "a new incident after close",
          "one new incident", lst)
