#!/usr/bin/env python3
"""make bench: vigil's cost, measured as ratios against a baseline in the same run.

Every benchmark interleaves its variants (base, floor, agent ...) round by round
(A B C A B C ..., at least 5 rounds unless --quick), quotes medians and reports
ratios, never bare times (../shared/BENCH.md).  Each agent run records the
agent's CPU time, peak RSS, BPF map memory and loss counters; a run in which
vigild lost events fails.  Prints one line per benchmark:
    id name base floor agent ratio goal verdict
and writes every figure to build/bench.json.

Feature benchmarks (B5-B8, B10) are provided by drivers next to this file
(tools/bench_*.py|sh) when their features exist; a missing driver is reported
as "n/a", never as a pass.
"""
import argparse, contextlib, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
B = os.path.join(ROOT, "build")
BENCH = os.path.join(B, "bench")
VIGILD = os.path.join(B, "vigild")
VIGIL = os.path.join(B, "vigil")
CLK = os.sysconf("SC_CLK_TCK")

results = {"benchmarks": {}, "agent_runs": [], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
failures = []


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def default_policy(**over):
    with open(os.path.join(ROOT, "policies", "default.json")) as f:
        p = json.load(f)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(p.get(k), dict):
            p[k].update(v)
        else:
            p[k] = v
    return p


class Agent:
    """vigild on a policy, with private dirs; stats collected at stop."""

    def __init__(self, name, pol):
        self.name, self.pol = name, pol

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="vigil-bench-")
        self.pp = os.path.join(self.dir, "policy.json")
        with open(self.pp, "w") as f:
            json.dump(self.pol, f)
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen([VIGILD, "--policy", self.pp, "--log-dir", self.dir + "/log",
                                      "--state-dir", self.dir + "/lib", "--run-dir", self.dir + "/run"],
                                     stdout=self.err, stderr=self.err)
        deadline = time.time() + 60
        while time.time() < deadline:
            self.err.seek(0)
            txt = self.err.read()
            if "vigild: ready" in txt:
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"vigild did not start: {txt.strip()[-400:]}")
            time.sleep(0.05)
        time.sleep(0.3)
        self.cpu0 = self.cpu()
        self.t0 = time.time()
        return self

    def cpu(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def status(self):
        r = sh([VIGIL, "status", "--json", "--socket", self.dir + "/run/vigild.sock"], timeout=20)
        return json.loads(r.stdout) if r.returncode == 0 else {}

    def hwm_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            m = re.search(r"VmHWM:\s+(\d+)", f.read())
        return int(m.group(1)) if m else 0

    def events(self, name="events.jsonl"):
        out = []
        try:
            with open(os.path.join(self.dir, "log", name), "rb") as f:
                for line in f:
                    out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def __exit__(self, *exc):
        st = self.status()
        lost = sum(v.get("ringbuf_full", 0) + v.get("read_failed", 0) for v in st.get("loss", {}).values())
        self.stats = {"variant": self.name, "cpu_s": self.cpu() - self.cpu0, "wall_s": time.time() - self.t0,
                      "peak_rss_kb": self.hwm_kb(), "rss_kb": st.get("rss_kb"),
                      "bpf_map_bytes": st.get("bpf_map_bytes"), "lost": lost,
                      "events_written": st.get("events_written")}
        results["agent_runs"].append(self.stats)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class Floor:
    """Do-nothing BPF programs on the same hooks."""

    def __enter__(self):
        self.proc = subprocess.Popen([os.path.join(BENCH, "floor")], stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("floor programs did not attach")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        return False


def interleave(variants, measure, rounds):
    """variants: list of (name, context factory or None).  measure(name) -> dict of numbers.
    Returns {name: [result per round]} with the variants interleaved round by round."""
    out = {n: [] for n, _ in variants}
    for _ in range(rounds):
        for name, ctx in variants:
            with (ctx() if ctx else contextlib.nullcontext()):
                out[name].append(measure(name))
    return out


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def line(bid, name, base, floor, agent, ratio, goal, verdict, extra=None):
    def f(x):
        return "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))
    print(f"{bid:<4} {name:<34} {f(base):>10} {f(floor):>10} {f(agent):>10} {f(ratio):>8}  {goal:<28} {verdict}",
          flush=True)
    results["benchmarks"][bid] = {"name": name, "base": base, "floor": floor, "agent": agent, "ratio": ratio,
                                  "goal": goal, "verdict": verdict, **(extra or {})}
    if verdict == "FAIL":
        failures.append(bid)


# ---------------------------------------------------------------- benchmarks

def b0(args):
    r = sh(["perf", "bench", "sched", "pipe", "-l", "50000"])
    m = re.search(r"([\d.]+) usecs/op", r.stdout)
    pipe_us = float(m.group(1)) if m else None
    r = sh(["openssl", "speed", "-evp", "sha256", "-seconds", "2"])
    m = re.search(r"^sha256\s.*\s([\d.]+)k\s*$", r.stdout, re.M)
    sha_mbs = float(m.group(1)) * 1000 / 1e6 if m else None   # 16 KiB blocks, one thread
    r = json.loads(sh([os.path.join(BENCH, "execloop"), os.path.join(BENCH, "tiny"), "2000"]).stdout)
    exec_us = r["us_p50"]
    t0 = time.time()
    total = 0
    for root in ("/usr/bin", "/usr/sbin"):
        for n in os.listdir(root):
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            break
                        total += len(b)
    read_mbs = total / 1e6 / (time.time() - t0)
    results["platform"] = {"pipe_us": pipe_us, "sha256_mb_s_1thread": sha_mbs, "exec_us": exec_us,
                           "read_mb_s_warm": read_mbs}
    line("B0", "platform limits", None, None, None, None, "-", "info",
         {"pipe_us": pipe_us, "sha256_mb_s": sha_mbs, "exec_us_p50": exec_us, "read_mb_s": read_mbs})
    print(f"     pipe {pipe_us} us/op, sha256 {sha_mbs and round(sha_mbs)} MB/s/thread, "
          f"exec {exec_us} us, warm read {read_mbs:.0f} MB/s")


def b1(args):
    n = str(args.exec_n)
    tiny = os.path.join(BENCH, "tiny")

    def measure(_):
        return json.loads(sh([os.path.join(BENCH, "execloop"), tiny, n]).stdout)
    variants = [("base", None), ("floor", Floor),
                ("observe", lambda: Agent("B1 observe", default_policy()))]
    res = interleave(variants, measure, args.rounds)
    base = med(res["base"], "us_mean")
    for v in ("floor", "observe"):
        check = [r["denied"] for r in res[v]]
        if any(check):
            failures.append(f"B1 {v} denied execs")
    fl = med(res["floor"], "us_mean")
    ob = med(res["observe"], "us_mean")
    ratio = ob / base
    line("B1", "exec cost: observe (us/exec)", base, fl, ob, ratio, "observe <= 1.05",
         "PASS" if ratio <= 1.05 else "MISS",
         {"p50": {k: med(v, "us_p50") for k, v in res.items()},
          "p99": {k: med(v, "us_p99") for k, v in res.items()}})
    aac = os.path.join(ROOT, "tools", "bench_exec.py")
    if os.path.exists(aac):
        out = os.path.join(B, "bench", "b1_exec.json")
        r = sh([sys.executable, aac, "--rounds", str(args.rounds), "--n", n, "--json", out], timeout=3600)
        print(r.stdout.rstrip())
        if r.returncode != 0:
            print(r.stderr.rstrip()[-2000:])
            failures.append("B1-aac")
        try:
            with open(out) as f:
                results["benchmarks"]["B1-aac"] = json.load(f)
        except (OSError, ValueError):
            failures.append("B1-aac driver output")
    else:
        line("B1", "exec cost: AAC audit/enforce", None, None, None, None, "<= 1.05 / <= 1.15", "n/a")


def b2(args):
    secs = str(args.storm_s)
    sng = shutil.which("stress-ng")
    if not sng:
        line("B2", "exec storm", None, None, None, None, ">= 0.95; 100% seen", "n/a (no stress-ng)")
        return
    sng = os.path.realpath(sng)

    def measure(name):
        # stress-ng's exec stressor refuses to run as root: run it as nobody
        d = tempfile.mkdtemp(prefix="vigil-bench-b2-")
        os.chmod(d, 0o777)
        y = os.path.join(d, "out.yaml")
        sh(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sng, "--exec", "2", "-t", secs,
            "--metrics-brief", "--yaml", y], timeout=int(secs) + 60, cwd=d)
        ops = 0
        try:
            with open(y) as f:
                m = re.search(r"bogo-ops:\s*(\d+)", f.read())
                ops = int(m.group(1)) if m else 0
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return {"ops": ops}
    agent_seen = []

    class StormAgent(Agent):
        def __exit__(self, *exc):
            n = sum(1 for e in self.events() if e.get("type") == "exec" and
                    e.get("process", {}).get("exe") == sng)
            agent_seen.append(n)
            return super().__exit__(*exc)
    res = interleave([("base", None), ("agent", lambda: StormAgent("B2", default_policy()))],
                     measure, args.rounds)
    base, ag = med(res["base"], "ops"), med(res["agent"], "ops")
    # stress-ng itself execs once per stressor start; every bogo op is one exec of a child
    seen = [s / max(1, r["ops"]) for s, r in zip(agent_seen, res["agent"])]
    ratio = ag / base if base else None
    ok = ratio is not None and ratio >= 0.95 and min(seen) >= 0.999
    line("B2", "exec storm (bogo-ops)", base, None, ag, ratio, ">= 0.95; 100% seen",
         "PASS" if ok else "MISS", {"seen_fraction": seen})
    print(f"     exec events logged / execs done: min {min(seen):.4f}")


def b3(args):
    d = tempfile.mkdtemp(prefix="vigil-bench-b3-", dir="/var/tmp")
    watched = os.path.join(d, "watched")
    os.makedirs(watched)
    unw = os.path.join(d, "unwatched")
    open(unw, "w").close()
    wf = os.path.join(watched, "f")
    open(wf, "w").close()
    n = str(args.open_n)
    cases = [("unwatched r", unw, "r"), ("watched w", wf, "w"), ("missing", os.path.join(d, "nope"), "r")]

    def measure(_):
        return {c[0]: json.loads(sh([os.path.join(BENCH, "openloop"), c[1], n, c[2]]).stdout)["ns_per_op"]
                for c in cases}
    pol = default_policy(file={"watch": ["/etc", watched]})
    res = interleave([("base", None), ("floor", Floor), ("agent", lambda: Agent("B3", pol))], measure, args.rounds)
    goals = {"unwatched r": 100, "watched w": 500, "missing": 100}
    for c, _, _ in cases:
        base, fl, ag = med(res["base"], c), med(res["floor"], c), med(res["agent"], c)
        delta = ag - base
        line("B3", f"open {c} (ns/op)", base, fl, ag, delta, f"agent-base <= +{goals[c]} ns",
             "PASS" if delta <= goals[c] else "MISS")
    shutil.rmtree(d, ignore_errors=True)


def b4(args):
    d = tempfile.mkdtemp(prefix="vigil-bench-b4-", dir="/var/tmp")
    f = os.path.join(d, "f")
    open(f, "w").close()
    pol = default_policy(file={"watch": [d]}, telemetry={"exec": False, "file": True, "network": False})
    best, steps = 0, []
    with Agent("B4", pol) as a:
        rate = 5000
        while rate <= args.max_rate:
            st0 = a.status()
            c0 = a.cpu()
            dur = 2.0
            r = json.loads(sh([os.path.join(BENCH, "openloop"), f, str(int(rate * dur)), "w", str(rate)]).stdout)
            time.sleep(1.0)
            st1 = a.status()
            c1 = a.cpu()
            lost = sum(v["ringbuf_full"] + v["read_failed"] for v in st1["loss"].values()) - \
                sum(v["ringbuf_full"] + v["read_failed"] for v in st0["loss"].values())
            written = st1["events_written"] - st0["events_written"]
            achieved = r["rate"]
            cpu_per_s = (c1 - c0) / r["seconds"]
            steps.append({"target": rate, "achieved": achieved, "lost": lost, "written": written,
                          "expected": r["n"], "agent_cpu": cpu_per_s})
            print(f"     B4 step {rate:>7}/s: achieved {achieved:>8.0f}/s lost {lost} "
                  f"written {written}/{r['n']} agent CPU {cpu_per_s:.2f}")
            if lost or written < r["n"]:
                break
            best = achieved
            if achieved < rate * 0.8:
                break   # the generator is the limit
            rate *= 2
    shutil.rmtree(d, ignore_errors=True)
    cpu_1k = None
    for s in steps:
        if s["achieved"] == best:
            cpu_1k = s["agent_cpu"] / (best / 1000.0)
    line("B4", "pipeline capacity (events/s, 0 loss)", None, None, best, None, ">= 100k/s at <= 1 vCPU",
         "PASS" if best >= 100000 else "MISS", {"steps": steps, "agent_cpu_per_1k_eps": cpu_1k})
    # the step that lost is what ended the search, not a failed run
    results["agent_runs"][-1]["lost_expected"] = True


def b9(args):
    with Agent("B9 idle", default_policy()) as a:
        # idle starts when the start-up work is over: the FIM baseline and the first posture
        # assessment (3 s after start: SUID walk, dpkg index); its CPU is reported apart
        deadline = time.time() + 60
        while time.time() < deadline:
            st = a.status()
            if st.get("posture", {}).get("runs", 0) >= 1 and st.get("fim", {}).get("state") != "baselining":
                break
            time.sleep(0.5)
        time.sleep(1)
        startup_cpu, startup_s = a.cpu() - a.cpu0, time.time() - a.t0
        cpu0, t0 = a.cpu(), time.time()
        time.sleep(args.idle_s)
        cpu = a.cpu() - cpu0
        wall = time.time() - t0
        rss = a.status().get("rss_kb")
    line("B9", "footprint idle (RSS kB)", None, None, rss, cpu / wall, "<= 32 MB RSS, idle CPU ~ 0",
         "PASS" if rss and rss <= 32 * 1024 and cpu / wall < 0.02 else "MISS",
         {"idle_cpu_fraction": cpu / wall, "idle_s": wall, "startup_cpu_s": startup_cpu, "startup_s": startup_s})
    peaks = [r["peak_rss_kb"] for r in results["agent_runs"] if r["variant"] == "B4"]
    if peaks:
        line("B9", "footprint under B4 (peak RSS kB)", None, None, max(peaks), None, "<= 32 MB",
             "PASS" if max(peaks) <= 32 * 1024 else "MISS")


def feature(bid, script, args, quick_args=("--quick",)):
    p = os.path.join(ROOT, "tools", script)
    if not os.path.exists(p):
        line(bid, script, None, None, None, None, "-", "n/a (driver missing)")
        return
    cmd = [sys.executable, p] if p.endswith(".py") else ["bash", p]
    r = sh(cmd + (list(quick_args) if args.quick else []), timeout=3600)
    print(r.stdout.rstrip())
    if r.returncode != 0:
        print(r.stderr.rstrip()[-2000:])
        failures.append(bid)
    try:
        results["benchmarks"][bid] = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds, smaller loops (a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B3")
    args = ap.parse_args()
    args.rounds = 3 if args.quick else 5
    args.exec_n = 1000 if args.quick else 5000
    args.open_n = 100000 if args.quick else 400000
    args.storm_s = 5 if args.quick else 20
    args.idle_s = 10 if args.quick else 60
    args.max_rate = 1280000
    if os.geteuid() != 0:
        print("make bench needs root (it loads BPF programs)", file=sys.stderr)
        return 2
    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    print(f"{'id':<4} {'name':<34} {'base':>10} {'floor':>10} {'agent':>10} {'ratio':>8}  {'goal':<28} verdict")
    table = [("B0", b0), ("B1", b1), ("B2", b2), ("B3", b3), ("B4", b4),
             ("B5", lambda a: feature("B5", "bench_jit.py", a)),
             ("B6", lambda a: None),   # B5 and B6 come from the same JIT driver
             ("B7", lambda a: feature("B7", "bench_fim.py", a)),
             ("B8", lambda a: None),   # B7 and B8 come from the same FIM driver
             ("B9", b9), ("B10", lambda a: feature("B10", "bench_scored.py", a, ("--hosts", "200", "--alerts", "5000")))]
    for bid, fn in table:
        if only and bid not in only:
            continue
        try:
            fn(args)
        except Exception as e:
            line(bid, "error", None, None, None, None, "-", "FAIL")
            print(f"     {type(e).__name__}: {e}")
    for r in results["agent_runs"]:
        if r["lost"] and not r.get("lost_expected"):
            failures.append(f"vigild lost {r['lost']} events in {r['variant']}")
    results["failures"] = failures
    os.makedirs(B, exist_ok=True)
    with open(os.path.join(B, "bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"bench: figures in build/bench.json; {'failures: ' + ', '.join(map(str, failures)) if failures else 'no failed run'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
