#!/usr/bin/env python3
"""B7/B8: FIM baseline throughput and change-alert latency (driver for tools/bench.py).

B7  on a tmpfs tree (warm cache): many small files and a few large ones.
    - MB/s of `vigil fim baseline --local` on the large files against the limit
      min(sha256 1-thread speed x threads, plain read speed) measured in the same run
    - files/s on the small files against `sha256sum` (find | xargs) on the same files
    - re-check time when nothing changed (`vigil fim check --local`), against the baseline time
B8  vigild on the shipped default policy plus a watched tmpfs directory: ms from a
    change (append, rename over, chmod) returning to its alert line in alerts.jsonl.
Variants are interleaved round by round; medians are quoted.  Prints the usual
`id name base floor agent ratio goal verdict` lines, then one JSON line.
"""
import argparse, json, os, re, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
VIGIL = os.environ.get("VIGIL_BIN", os.path.join(ROOT, "build", "vigil"))
VIGILD = os.environ.get("VIGILD_BIN", os.path.join(ROOT, "build", "vigild"))
out = {}
failed = False


def line(bid, name, base, floor, agent, ratio, goal, verdict):
    f = lambda x: "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))
    print(f"{bid:<4} {name:<34} {f(base):>10} {f(floor):>10} {f(agent):>10} {f(ratio):>8}  {goal:<28} {verdict}",
          flush=True)


def timed(cmd, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - t, r


def sha_limit_mb_s():
    r = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "262144", "-seconds", "2", "-mr"],
                       capture_output=True, text=True)
    m = re.search(r"\+F:\d+:[^:]+:([\d.]+)", r.stdout)
    return float(m.group(1)) / 1e6 if m else None


def read_mb_s(files):
    total, t = 0, time.perf_counter()
    for p in files:
        with open(p, "rb", buffering=0) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                total += len(b)
    return total / 1e6 / (time.perf_counter() - t)


def make_tree(root, nsmall, nlarge, large_mb):
    small, large = os.path.join(root, "small"), os.path.join(root, "large")
    os.makedirs(small)
    os.makedirs(large)
    chunk = os.urandom(1 << 20)
    for i in range(nlarge):
        with open(os.path.join(large, f"l{i}"), "wb") as f:
            for _ in range(large_mb):
                f.write(chunk)
    for d in range(nsmall // 200):
        sd = os.path.join(small, f"d{d}")
        os.makedirs(sd)
        for i in range(200):
            with open(os.path.join(sd, f"s{i}"), "wb") as f:
                f.write(os.urandom(1024))
    return small, large


def policy_for(path, st):
    p = os.path.join(st, f"pol-{os.path.basename(path)}.json")
    with open(p, "w") as f:
        json.dump({"version": 1, "fim": {"max_files": 1000000, "watch": [{"path": path}]}}, f)
    return p


def fim_cli(sub, pol, state, cpu=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t, r = timed([VIGIL, "fim", sub, "--local", "--json", "--policy", pol, "--state-dir", state])
    if r.returncode not in (0, 1):
        raise RuntimeError(f"vigil fim {sub}: {r.returncode} {r.stderr}")
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return t, json.loads(r.stdout.strip().splitlines()[-1])


def b7(args, tmp):
    global failed
    small, large = make_tree(tmp, args.small, args.nlarge, args.large_mb)
    large_files = [os.path.join(large, f) for f in os.listdir(large)]
    small_files = [os.path.join(dp, f) for dp, _, fs in os.walk(small) for f in fs]
    st = os.path.join(tmp, "state")
    os.makedirs(st)
    pl, ps = policy_for(large, st), policy_for(small, st)
    threads = os.cpu_count()
    rounds = {"sha1t": [], "read": [], "vigil_mb": [], "vigil_fps": [], "sha256sum_fps": [],
              "sha256sum_mb": [], "check_s": [], "baseline_s": [], "vigil_mb_per_cpu_s": []}
    for _ in range(args.rounds):
        rounds["sha1t"].append(sha_limit_mb_s() or 0)
        rounds["read"].append(read_mb_s(large_files))
        cpu = []
        _, j = fim_cli("baseline", pl, os.path.join(st, "L"), cpu)
        s = j["stats"]
        rounds["vigil_mb"].append(s["bytes"] / 1e6 / s["seconds"])
        rounds["vigil_mb_per_cpu_s"].append(s["bytes"] / 1e6 / cpu[0])
        t, _ = timed(["sha256sum"] + large_files)
        rounds["sha256sum_mb"].append(sum(os.path.getsize(p) for p in large_files) / 1e6 / t)
        tb, j = fim_cli("baseline", ps, os.path.join(st, "S"))
        s = j["stats"]
        rounds["vigil_fps"].append((s["files"] + s["dirs"]) / s["seconds"])
        rounds["baseline_s"].append(tb)
        t, r = timed(f"find {small} -type f -print0 | xargs -0 sha256sum > /dev/null", shell=True)
        rounds["sha256sum_fps"].append(len(small_files) / t)
        tc, j = fim_cli("check", ps, os.path.join(st, "S"))
        if j.get("count"):
            failed = True
            print(f"B7 re-check found {j['count']} differences on an unchanged tree", file=sys.stderr)
        rounds["check_s"].append(tc)
    med = {k: statistics.median(v) for k, v in rounds.items()}
    limit = min(med["sha1t"] * threads, med["read"])
    r1 = med["vigil_mb"] / limit
    line("B7", "FIM baseline MB/s vs limit", round(limit), None, round(med["vigil_mb"]), r1, ">= 0.7 of the limit",
         "PASS" if r1 >= 0.7 else "MISS")
    r4 = med["vigil_mb_per_cpu_s"] / med["sha1t"]
    line("B7", "FIM hash MB per CPU-s vs 1 thread", round(med["sha1t"]), None, round(med["vigil_mb_per_cpu_s"]), r4,
         "- (CPU efficiency)", "info")
    r2 = med["vigil_fps"] / med["sha256sum_fps"]
    line("B7", "FIM small files/s vs sha256sum", round(med["sha256sum_fps"]), None, round(med["vigil_fps"]), r2,
         ">= 5x sha256sum", "PASS" if r2 >= 5 else "MISS")
    r3 = med["check_s"] / med["baseline_s"]
    line("B7", "FIM re-check, no change (s)", round(med["baseline_s"], 3), None, round(med["check_s"], 3), r3,
         "- (ratio to baseline time)", "info")
    out["B7"] = {"medians": med, "limit_mb_s": limit, "threads": threads, "small_files": len(small_files),
                 "large_mb": args.nlarge * args.large_mb, "sha256sum_mb_s": med["sha256sum_mb"],
                 "ratio_mb_s": r1, "ratio_files_s": r2, "recheck_over_baseline": r3}


def alert_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def b8(args, tmp):
    global failed
    w = os.path.join(tmp, "watched")
    os.makedirs(w)
    for i in range(args.latency_n):
        for k in ("m", "r", "c"):
            with open(os.path.join(w, f"{k}{i}"), "w") as f:
                f.write("x\n")
    with open(os.path.join(ROOT, "policies", "default.json")) as f:
        pol = json.load(f)
    pol["fim"]["watch"].append({"path": w})
    d = os.path.join(tmp, "agent")
    os.makedirs(d)
    pp = os.path.join(d, "policy.json")
    with open(pp, "w") as f:
        json.dump(pol, f)
    err = open(os.path.join(d, "stderr"), "w+")
    proc = subprocess.Popen([VIGILD, "--policy", pp, "--log-dir", d + "/log", "--state-dir", d + "/lib",
                             "--run-dir", d + "/run"], stdout=err, stderr=err)
    alerts = os.path.join(d, "log", "alerts.jsonl")
    sock = os.path.join(d, "run", "vigild.sock")
    lat = {"modify": [], "rename": [], "chmod": []}
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            r = subprocess.run([VIGIL, "fim", "status", "--json", "--socket", sock], capture_output=True, text=True)
            if r.returncode == 0:
                s = json.loads(r.stdout)
                if s["state"] == "monitoring" and "job" not in s:
                    break
            if proc.poll() is not None:
                raise RuntimeError("vigild exited: " + open(err.name).read()[-400:])
            time.sleep(0.2)
        else:
            raise RuntimeError("FIM not monitoring within 120 s")
        time.sleep(0.5)

        def measure(kind, i):
            n0 = len(alert_lines(alerts))
            p = os.path.join(w, {"modify": "m", "rename": "r", "chmod": "c"}[kind] + str(i))
            if kind == "modify":
                with open(p, "a") as f:
                    f.write("more\n")
            elif kind == "rename":
                tmpf = p + ".new"
                with open(tmpf, "w") as f:
                    f.write(f"replaced {i}\n")
                os.rename(tmpf, p)
            else:
                os.chmod(p, 0o600)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 5:
                for ln in alert_lines(alerts)[n0:]:
                    a = json.loads(ln)
                    if a.get("fim", {}).get("path") == p:
                        return (time.perf_counter() - t0) * 1000
                time.sleep(0.001)
            return None

        for i in range(args.latency_n):      # interleaved: modify, rename, chmod, ...
            for kind in lat:
                ms = measure(kind, i)
                if ms is None:
                    failed = True
                    print(f"B8: no alert for {kind} #{i}", file=sys.stderr)
                else:
                    lat[kind].append(ms)
        r = subprocess.run([VIGIL, "status", "--json", "--socket", sock], capture_output=True, text=True)
        st = json.loads(r.stdout) if r.returncode == 0 else {}
        lost = sum(v.get("ringbuf_full", 0) + v.get("read_failed", 0) for v in st.get("loss", {}).values())
        if lost:
            failed = True
            print(f"B8: vigild lost {lost} events", file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    res = {}
    for kind, v in lat.items():
        if not v:
            continue
        v = sorted(v)
        p50, p99 = statistics.median(v), v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
        res[kind] = {"p50_ms": p50, "p99_ms": p99, "n": len(v)}
        line("B8", f"FIM alert latency {kind} p99 (ms)", None, None, round(p99, 1), round(p50, 1),
             "p99 <= 200 ms (ratio=p50)", "PASS" if p99 <= 200 else "MISS")
    out["B8"] = res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    args.rounds = 3 if args.quick else 5
    args.small = 4000 if args.quick else 20000
    args.nlarge, args.large_mb = (2, 64) if args.quick else (4, 128)
    args.latency_n = 10 if args.quick else 40
    if os.geteuid() != 0:
        print("bench_fim needs root", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="vigil-bench-fim-")
    size = args.nlarge * args.large_mb + args.small * 8 // 1024 + 256
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "vigil-bench-fim", tmp], check=True)
    try:
        b7(args, tmp)
        b8(args, tmp)
    finally:
        subprocess.run(["umount", "-l", tmp])
        os.rmdir(tmp)
    print(json.dumps(out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
