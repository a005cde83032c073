"""Prometheus metrics: vigild --metrics serves GET /metrics in the text exposition format,
rendered from the same numbers as `vigil status --json`."""
import http.client, os, re, shutil, subprocess, uuid

from vigiltest import Daemon, check, policy, tmpdir

TRUE = os.path.realpath("/usr/bin/true")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _get(port, path="/metrics", method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def _parse(text):
    """{(name, frozenset(labels)): value}; checks every line against the format."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, typ = line[7:].split(" ")
            check(name not in typed, "family declared once", name, "twice")
            check(typ in ("counter", "gauge", "summary", "histogram", "untyped"), "type", "a type", line)
            typed.add(name)
            continue
        m = SAMPLE.match(line)
        check(m is not None, "exposition line", "name{labels} value", line)
        check(any(m.group(1).startswith(t) for t in typed), "sample after its TYPE", m.group(1), line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def _val(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())))


def _scrape(port):
    st, ctype, body = _get(port)
    check(st == 200, "GET /metrics status", 200, (st, body[:200]))
    check(ctype == "text/plain; version=0.0.4; charset=utf-8", "content type",
          "text/plain; version=0.0.4; charset=utf-8", ctype)
    return _parse(body)


def test_metrics_serve_counters_matching_status():
    d = tmpdir()   # under /tmp: exec from it raises exec_world_writable
    dropper = os.path.join(d, "dropper")
    shutil.copy(TRUE, dropper)
    with Daemon(policy(), args=["--metrics", "127.0.0.1:0"]) as vd:
        st = vd.status()
        check("metrics" in st, "status has the metrics engine", "metrics", sorted(st))
        listen = st["metrics"]["listen"]
        port = int(listen.rsplit(":", 1)[1])
        check(listen.startswith("127.0.0.1:") and port > 0, "listen address", "127.0.0.1:<port>", listen)

        m0 = _scrape(port)
        e0 = _val(m0, "vigil_events_total", type="exec")
        check(e0 is not None, "vigil_events_total{type=exec}", "present", sorted(k[0] for k in m0))
        n = 25
        marker = "vt-" + uuid.uuid4().hex[:12]
        for _ in range(n):
            subprocess.run([TRUE, marker], check=True, timeout=10)
        subprocess.run([dropper, marker], check=True, timeout=10)
        vd.wait_alert(lambda a: a["rule"] == "exec_world_writable" and marker in a["process"]["args"])
        vd.settle(0.5)

        # other processes on the host exec too: status must fall between two scrapes
        ma = _scrape(port)
        st = vd.status()
        mb = _scrape(port)
        ea, eb = _val(ma, "vigil_events_total", type="exec"), _val(mb, "vigil_events_total", type="exec")
        check(ea - e0 >= n + 1, "exec counter grew by the execs done", f">= {n + 1}", ea - e0)
        check(ea <= st["events"]["exec"] <= eb, "status events.exec between two scrapes",
              f"{ea}..{eb}", st["events"]["exec"])
        for t, causes in st["loss"].items():
            for cause, v in causes.items():
                lo = _val(ma, "vigil_events_lost_total", type=t, cause=cause)
                hi = _val(mb, "vigil_events_lost_total", type=t, cause=cause)
                check(lo is not None and lo <= v <= hi, f"loss {t}/{cause} between scrapes", f"{lo}..{hi}", v)
        for rule, sev in st["alerts_by_rule"].items():
            for s, v in sev.items():
                got = _val(mb, "vigil_alerts_total", rule=rule, severity=s)
                check(got is not None and got >= v, f"alerts_total {rule}/{s}", f">= {v}", got)
        ww = st["alerts_by_rule"].get("exec_world_writable", {}).get("medium", 0)
        check(ww >= 1, "status alerts_by_rule exec_world_writable/medium", ">= 1", st["alerts_by_rule"])
        check(_val(mb, "vigil_alerts_total", rule="exec_world_writable", severity="medium") == ww,
              "vigil_alerts_total{exec_world_writable,medium}", ww,
              _val(mb, "vigil_alerts_total", rule="exec_world_writable", severity="medium"))
        pt = _val(mb, "vigil_process_table_entries")
        check(pt is not None and pt > 0, "process table entries", "> 0", pt)
        rss = _val(mb, "process_resident_memory_bytes")
        check(rss is not None and rss > 1 << 20, "resident memory", "> 1 MiB", rss)
        check(_val(mb, "vigil_build_info", version=st["version"]) == 1, "build info", 1,
              [k for k in mb if k[0] == "vigil_build_info"])

        code, _, _ = _get(port, "/nope")
        check(code == 404, "unknown path", 404, code)
        code, _, _ = _get(port, "/metrics", "POST")
        check(code == 405, "POST /metrics", 405, code)
        check(vd.status()["metrics"]["scrapes"] >= 3, "scrapes counted", ">= 3", vd.status()["metrics"])
        check(vd.stop() == 0, "vigild exit status after SIGTERM", 0, vd.proc.returncode)


def test_metrics_off_by_default_and_bad_address_refused():
    with Daemon(policy()) as vd:
        st = vd.status()
        check("metrics" not in st, "no metrics engine status without --metrics", "absent", st.get("metrics"))
    for bad in ("localhost:99999", "127.0.0.1", "[::1:9100"):
        vd = Daemon(policy(), args=["--metrics", bad], start=False)
        p = subprocess.run(vd.cmdline(), capture_output=True, text=True, timeout=60)
        check(p.returncode == 2, f"vigild --metrics {bad} exit status", 2, (p.returncode, p.stderr))
        check(f"--metrics {bad}" in p.stderr, "the reason names the option", f"--metrics {bad}", p.stderr)
