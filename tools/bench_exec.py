#!/usr/bin/env python3
"""B1 exec cost (BENCH.md): posix_spawn + waitpid of a tiny static binary, variants
interleaved in every round (base, observe, AAC audit, AAC enforce allowed, AAC enforce
denied), medians over rounds, ratios against base measured in the same run.

Enforcement is scoped to a tmpfs this script mounts (never /); the binaries live there.
Also reports the fanotify decision latency p50/p99 and the verdict-cache hit rate from
`vigil status`, the agent's CPU time and peak RSS, and fails when vigild lost events.

Usage: sudo tools/bench_exec.py [--rounds 5] [--n 1000] [--json build/bench/b1_exec.json]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
import vigiltest  # noqa: E402
from vigiltest import Daemon, policy, helper  # noqa: E402

GOALS = {"observe": 1.05, "audit": 1.05, "enforce_allowed": 1.15}


def bench(path, n):
    out = subprocess.run([helper("aac_exec"), "bench", str(n), path], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    kv = dict(x.split("=") for x in out.split())
    return {"us_per_exec": int(kv["total_ns"]) / n / 1000, "p50_us": int(kv["p50_ns"]) / 1000,
            "p99_us": int(kv["p99_ns"]) / 1000, "ok": int(kv["ok"]), "eperm": int(kv["eperm"])}


def agent_figures(vd):
    with open(f"/proc/{vd.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / tick
    with open(f"/proc/{vd.proc.pid}/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
    st = vd.status()
    lost = sum(v["ringbuf_full"] + v["read_failed"] for v in st["loss"].values())
    return cpu_s, hwm, lost, st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench", "b1_exec.json"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_exec: needs root (vigild loads BPF programs)", file=sys.stderr)
        return 2
    try:
        mnt = vigiltest.mount_tmpfs("64m")
        os.chmod(mnt, 0o755)
        src = os.path.join(tempfile.mkdtemp(), "tiny.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        tiny = os.path.join(mnt, "tiny")
        subprocess.run(["cc", "-O2", "-static", "-o", tiny, src], check=True)
        denied = os.path.join(mnt, "tiny-denied")
        shutil.copy2(tiny, denied)
        with open(denied, "ab") as f:
            f.write(b"\0different")
        import hashlib
        sha = hashlib.sha256(open(tiny, "rb").read()).hexdigest()
        pol = policy(aac={"mode": "learn", "enforce_paths": [mnt], "aggregate_window_s": 60,
                          "rules": [{"kind": "path_hash", "path": tiny, "sha256": sha}]})
        res = {k: [] for k in ("base", "base_denied", "observe", "audit", "enforce_allowed", "enforce_denied")}
        cpu = hwm = lost = 0
        st = None
        vd = Daemon(pol, start=False)
        for r in range(a.rounds):
            res["base"].append(bench(tiny, a.n))
            res["base_denied"].append(bench(denied, a.n))
            open(vd.stderr_path, "w").close()   # readiness must come from this run
            vd.start()
            vd.settle(3)                           # start-up work (baselines, seeding) is not exec cost
            res["observe"].append(bench(tiny, a.n))
            vd.vigil("aac", "mode", "audit")
            res["audit"].append(bench(tiny, a.n))
            vd.vigil("aac", "mode", "enforce")
            res["enforce_allowed"].append(bench(tiny, a.n))
            res["enforce_denied"].append(bench(denied, a.n))
            c, h, l, st = agent_figures(vd)
            cpu, hwm, lost = cpu + c, max(hwm, h), lost + l
            vd.vigil("aac", "mode", "reset")
            vd.stop()
        med = {k: statistics.median(x["us_per_exec"] for x in v) for k, v in res.items()}
        fa = st["aac"]["fanotify"] if st else {}
        hits, misses = fa.get("cache_hits", 0), fa.get("cache_misses", 0)
        out = {
            "id": "B1", "rounds": a.rounds, "n_per_variant_round": a.n, "median_us_per_exec": med,
            "ratio": {k: med[k] / med["base"] for k in ("observe", "audit", "enforce_allowed")},
            "ratio_denied_vs_base_denied": med["enforce_denied"] / med["base_denied"],
            "exec_p50_p99_us": {k: [statistics.median(x["p50_us"] for x in v), statistics.median(x["p99_us"] for x in v)]
                                for k, v in res.items()},
            "decision_latency_us": {"p50": fa.get("decision_p50_us"), "p99": fa.get("decision_p99_us")},
            "cache_hit_rate": hits / (hits + misses) if hits + misses else None,
            "fanotify": fa, "agent_cpu_s": cpu, "agent_peak_rss_kb": hwm, "events_lost": lost,
            "denied_ok": all(x["eperm"] == a.n for x in res["enforce_denied"]),
        }
        os.makedirs(os.path.dirname(a.json), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print("id name base floor agent ratio goal verdict")
        for k in ("observe", "audit", "enforce_allowed"):
            ratio = out["ratio"][k]
            print(f"B1 exec_{k} {med['base']:.1f}us - {med[k]:.1f}us {ratio:.3f} <={GOALS[k]} "
                  f"{'ok' if ratio <= GOALS[k] and not lost else 'FAIL'}")
        print(f"B1 exec_enforce_denied {med['base_denied']:.1f}us - {med['enforce_denied']:.1f}us "
              f"{out['ratio_denied_vs_base_denied']:.3f} - {'ok' if out['denied_ok'] else 'FAIL(not all EPERM)'}")
        print(f"B1 decision p50 {fa.get('decision_p50_us', 0):.1f}us p99 {fa.get('decision_p99_us', 0):.1f}us, "
              f"cache hit rate {out['cache_hit_rate'] if out['cache_hit_rate'] is not None else 0:.3f}, "
              f"agent cpu {cpu:.2f}s, peak rss {hwm} kB, lost {lost}  ({a.json})")
        return 1 if lost or not out["denied_ok"] else 0
    finally:
        vigiltest.cleanup_all()


if __name__ == "__main__":
    sys.exit(main())
