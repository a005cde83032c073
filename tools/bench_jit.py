#!/usr/bin/env python3
"""JIT port access benchmarks (B5, B6 and request-to-effect), called by tools/bench.py.

Everything runs in two network namespaces this driver creates (A: server and vigild,
B: clients) joined by a veth pair; vigild runs under `nsenter --net` so that it shares
the host's bpffs, with its own jit.pin_dir.  Variants are interleaved round by round
(>= 5 rounds, 3 with --quick); figures are medians and ratios against a baseline
measured in the same run (../shared/BENCH.md).

  B5  TCP connections/s (connect, accept, close) over the veth to a JIT-protected
      port with a live grant for the client, and over loopback in A:
      base (no program), floor (XDP pass-all on the veth), agent (vigild enforcing).
  B6  packets/s dropped at a protected UDP port on the veth, no grant:
      base (no program: the stack drops them, no listener), floor (a trivial XDP
      drop program, tools/bench/xdp_drop.bpf.c), agent (vigild drops them);
      counted at the receiver (UDP MIB, the floor's counter, vigil's per-CPU stats).
  JIT request to effect: ms from running `vigil jit request` until a connection
      attempt from the granted source (one SYN every 2 ms) is accepted.

Prints one line per figure (id name base floor agent ratio goal verdict), and as its
last line one JSON object with every figure.  Exit 1 when a run failed (vigild lost
events, a helper failed), 0 otherwise (a MISS is a figure, not a failure).
"""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
B = os.path.join(ROOT, "build")
BENCH = os.path.join(B, "bench")
VIGILD = os.path.join(B, "vigild")
VIGIL = os.path.join(B, "vigil")
CLK = os.sysconf("SC_CLK_TCK")
PORT_TCP, PORT_UDP = 2200, 2201
TAG = str(os.getpid() % 100000)

out = {"id": "B5", "rounds": 0, "agent_runs": [], "failures": []}


def sh(cmd, check=False, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    return r


def in_ns(ns, argv):
    # nsenter, not `ip netns exec`: the latter remounts /sys and hides the host's bpffs
    return ["nsenter", f"--net=/var/run/netns/{ns}"] + argv


def line(bid, name, base, floor, agent, ratio, goal, verdict, key=None, extra=None):
    def f(x):
        return "-" if x is None else (f"{x:.3g}" if isinstance(x, float) else str(x))
    print(f"{bid:<4} {name:<34} {f(base):>10} {f(floor):>10} {f(agent):>10} {f(ratio):>8}  {goal:<28} {verdict}",
          flush=True)
    out.setdefault(bid, {})[key or name] = {"name": name, "base": base, "floor": floor, "agent": agent,
                                            "ratio": ratio, "goal": goal, "verdict": verdict, **(extra or {})}


def build():
    """Compiles the driver's helpers into build/bench when missing or older than their source."""
    os.makedirs(BENCH, exist_ok=True)
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    jobs = [("jit_connloop.c", "jit_connloop", ["cc", "-O2", "-Wall"]),
            ("jit_flood.c", "jit_flood", ["cc", "-O2", "-Wall"]),
            ("xdp_drop.bpf.c", "xdp_drop.bpf.o", ["clang", "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                                                  "-I" + os.path.join(ROOT, "vmlinux"), "-Wall",
                                                  f"-DVB_PORT={PORT_UDP}", "-c"])]
    for src, dst, cc in jobs:
        s, d = os.path.join(ROOT, "tools", "bench", src), os.path.join(BENCH, dst)
        if not os.path.exists(d) or os.path.getmtime(d) < os.path.getmtime(s):
            sh(cc + ["-o", d, s], check=True)
    for p in (VIGILD, VIGIL):
        if not os.path.exists(p):
            raise RuntimeError(f"{p} missing: run make first")


class Lab:
    """Netns A (server, vigild) and B (clients) joined by veth va/vb; removed by close()."""

    def __init__(self):
        self.a, self.b = f"vbjA{TAG}", f"vbjB{TAG}"
        self.va, self.vb = f"vbja{TAG}", f"vbjb{TAG}"
        self.ip_a, self.ip_b, self.ip_b2 = "10.251.0.1", "10.251.0.2", "10.251.0.3"
        self.procs = []
        self.created = False

    def setup(self):
        self.created = True
        for cmd in (["ip", "netns", "add", self.a], ["ip", "netns", "add", self.b],
                    ["ip", "link", "add", self.va, "netns", self.a, "type", "veth", "peer", "name", self.vb,
                     "netns", self.b],
                    ["ip", "-n", self.a, "addr", "add", f"{self.ip_a}/24", "dev", self.va],
                    ["ip", "-n", self.b, "addr", "add", f"{self.ip_b}/24", "dev", self.vb],
                    ["ip", "-n", self.b, "addr", "add", f"{self.ip_b2}/24", "dev", self.vb],
                    ["ip", "-n", self.a, "link", "set", self.va, "up"],
                    ["ip", "-n", self.b, "link", "set", self.vb, "up"],
                    ["ip", "-n", self.a, "link", "set", "lo", "up"],
                    ["ip", "-n", self.b, "link", "set", "lo", "up"],
                    # the client side makes up to 64k connections per measurement
                    in_ns(self.b, ["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"])):
            sh(cmd, check=True)
        self.mac_a = json.loads(sh(["ip", "-n", self.a, "-j", "link", "show", self.va], check=True).stdout)[0]["address"]
        srv = subprocess.Popen(in_ns(self.a, [os.path.join(BENCH, "jit_connloop"), "server", str(PORT_TCP)]),
                               stdout=subprocess.PIPE, text=True)
        self.procs.append(srv)
        if srv.stdout.readline().strip() != "ready":
            raise RuntimeError("jit_connloop server did not start")
        # neighbour entries both ways for both client addresses, so that no measured
        # packet waits on ARP (also a check that the path works before any program)
        for src in (self.ip_b, self.ip_b2):
            sh(in_ns(self.b, [sys.executable, "-c", "import socket,sys; s=socket.socket(); s.settimeout(3); "
                              "s.bind((sys.argv[1], 0))\ntry: s.connect((sys.argv[2], int(sys.argv[3])))\n"
                              "except ConnectionResetError: pass   # accepted and reset by the server",
                              src, self.ip_a, str(PORT_TCP)]), check=True)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.created:
            for ns in (self.a, self.b):
                sh(["ip", "netns", "del", ns])


class Vigil:
    """vigild in netns A, JIT enforcing on the veth: the shipped default policy plus the
    JIT section the benchmark needs.  The state dir (hash cache, grants) is shared by the
    runs of one driver invocation, as a real agent's is across restarts; enforcement is
    removed (`jit disable`) when the run ends, so base runs see no program."""

    def __init__(self, lab, state_dir, name, network_sensor=True):
        self.lab, self.state_dir, self.name = lab, state_dir, name
        self.network_sensor = network_sensor
        self.pin_dir = f"/sys/fs/bpf/vigil-bench-jit-{TAG}"

    def policy(self):
        with open(os.path.join(ROOT, "policies", "default.json")) as f:
            p = json.load(f)
        p["jit"] = dict(p.get("jit", {}), mode="enforce", interfaces=[self.lab.va], pin_dir=self.pin_dir,
                        ports=[{"port": PORT_TCP, "protocol": "tcp", "max_duration": "3h"},
                               {"port": PORT_UDP, "protocol": "udp", "max_duration": "3h"}])
        if not self.network_sensor:   # B5 "agent_jit": JIT's own cost, without connection telemetry
            p.setdefault("sensors", {})["network"] = False
            p.setdefault("telemetry", {})["network"] = False
        return p

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="vigil-bench-jit-")
        pp = os.path.join(self.dir, "policy.json")
        with open(pp, "w") as f:
            json.dump(self.policy(), f)
        self.sock = os.path.join(self.dir, "run", "vigild.sock")
        self.errf = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(in_ns(self.lab.a, [VIGILD, "--policy", pp, "--log-dir", self.dir + "/log",
                                                        "--state-dir", self.state_dir, "--run-dir", self.dir + "/run"]),
                                     stdout=self.errf, stderr=self.errf)
        deadline = time.time() + 60
        while True:
            self.errf.seek(0)
            txt = self.errf.read()
            if "vigild: ready" in txt:
                break
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"vigild did not start: {txt.strip()[-400:]}")
            time.sleep(0.05)
        time.sleep(0.5)
        self.cpu0, self.t0 = self.cpu(), time.time()
        return self

    def cli(self, *args, timeout=30):
        return sh([VIGIL] + list(args) + ["--socket", self.sock], timeout=timeout)

    def jit_status(self):
        r = self.cli("jit", "status", "--json")
        if r.returncode:
            raise RuntimeError(f"vigil jit status: {r.stderr.strip()}")
        return json.loads(r.stdout)["jit"]

    def request(self, src, duration="1h"):
        r = self.cli("jit", "request", "--port", str(PORT_TCP), "--from", src, "--duration", duration,
                     "--justification", "make bench", "--json")
        if r.returncode:
            raise RuntimeError(f"vigil jit request: {r.stderr.strip()}")
        return json.loads(r.stdout)["grant"]

    def cpu(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:   # nsenter execs vigild in place: same pid
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        try:
            r = self.cli("status", "--json")
            st = json.loads(r.stdout) if r.returncode == 0 else {}
            js = self.jit_status()
            with open(f"/proc/{self.proc.pid}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+)", f.read())
            lost = sum(v.get("ringbuf_full", 0) + v.get("read_failed", 0) for v in st.get("loss", {}).values())
            lost += js["packets"].get("records_lost", 0)
            run = {"variant": self.name, "cpu_s": round(self.cpu() - self.cpu0, 3),
                   "wall_s": round(time.time() - self.t0, 3), "peak_rss_kb": int(m.group(1)) if m else None,
                   "rss_kb": st.get("rss_kb"), "bpf_map_bytes": st.get("bpf_map_bytes"), "lost": lost,
                   "jit_packets": js["packets"], "jit_hook": [i["hook"] for i in js["interfaces"]]}
            out["agent_runs"].append(run)
            if lost:
                out["failures"].append(f"vigild lost {lost} events in {self.name}")
            self.cli("jit", "disable")
        finally:
            self.stop()
            unpin_jit(self.lab, self.pin_dir)
            self.errf.close()
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


def unpin_jit(lab, pin_dir):
    """Removes vigil's pinned links and maps without a daemon, from inside netns A so that its
    sweep of TC filters can only touch the test's interfaces."""
    if os.path.exists(pin_dir):
        sh(in_ns(lab.a, [VIGIL, "jit", "disable", "--pin-dir", pin_dir, "--socket", "/nonexistent"]))
        shutil.rmtree(pin_dir, ignore_errors=True)


class Xdp:
    """A program of tools/bench/xdp_drop.bpf.c (xdp_pass or xdp_drop) attached in driver
    mode to the veth in A, as vigil's program is; detached and unpinned on exit."""

    def __init__(self, lab, prog):
        self.lab, self.prog = lab, prog
        self.dir = f"/sys/fs/bpf/vigil-bench-xdp-{TAG}"

    def __enter__(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            sh(["bpftool", "prog", "loadall", os.path.join(BENCH, "xdp_drop.bpf.o"), self.dir, "type", "xdp",
                "pinmaps", self.dir + "/maps"], check=True)
            sh(in_ns(self.lab.a, ["bpftool", "net", "attach", "xdpdrv", "pinned", f"{self.dir}/{self.prog}",
                                  "dev", self.lab.va]), check=True)
        except Exception:
            self.__exit__()
            raise
        return self

    def drops(self):
        r = sh(["bpftool", "-j", "map", "dump", "pinned", self.dir + "/maps/vb_drops"], check=True)
        total = 0
        for e in json.loads(r.stdout):
            for v in e.get("values", []):
                val = v.get("value")
                total += int(val) if isinstance(val, int) else int.from_bytes(bytes(int(x, 16) for x in val), "little")
        return total

    def __exit__(self, *exc):
        sh(in_ns(self.lab.a, ["bpftool", "net", "detach", "xdpdrv", "dev", self.lab.va]))
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def interleave(variants, measure, rounds):
    res = {n: [] for n, _ in variants}
    for _ in range(rounds):
        for name, ctx in variants:
            with ctx() as c:
                res[name].append(measure(name, c))
    return res


def med(xs):
    return statistics.median(xs)


def paired_ratio(res, num, den, key):
    """Median over rounds of num/den measured in the same round: robust to load that
    drifts between rounds (these machines are shared)."""
    return med(a[key] / b[key] for a, b in zip(res[num], res[den]))


# ---------------------------------------------------------------- B5

def b5(lab, state, args):
    def conn(ns, dst):
        r = sh(in_ns(ns, [os.path.join(BENCH, "jit_connloop"), "client", dst, str(PORT_TCP), str(args.conns)]),
               timeout=600)
        if r.returncode:
            raise RuntimeError(f"connection loop to {dst} failed: {r.stdout.strip()} {r.stderr.strip()}")
        return json.loads(r.stdout)["rate"]

    def measure(name, ctx):
        if isinstance(ctx, Vigil):
            ctx.request(f"{lab.ip_b}/32")
            d0 = ctx.jit_status()["packets"]
        v = {"veth": conn(lab.b, lab.ip_a), "loopback": conn(lab.a, "127.0.0.1")}
        if isinstance(ctx, Vigil):
            d1 = ctx.jit_status()["packets"]
            # proof that the grant path was measured: SYNs judged and let through, none dropped
            v["granted"] = d1["granted"] - d0["granted"]
            v["dropped"] = d1["dropped"] - d0["dropped"]
            if v["granted"] < args.conns or v["dropped"]:
                out["failures"].append(f"B5 agent round: granted {v['granted']} < {args.conns} or dropped "
                                       f"{v['dropped']}")
        return v

    class Null:
        def __enter__(self):
            return self

        def __exit__(self, *e):
            return False
    res = interleave([("base", Null), ("floor", lambda: Xdp(lab, "xdp_pass")),
                      ("agent", lambda: Vigil(lab, state, "B5 agent")),
                      ("agent_jit", lambda: Vigil(lab, state, "B5 agent_jit", network_sensor=False))],
                     measure, args.rounds)
    for path, label, floor in (("veth", "connections/s over veth (granted)", True),
                               ("loopback", "connections/s over loopback", False)):
        base, ag = med(r[path] for r in res["base"]), med(r[path] for r in res["agent"])
        fl = med(r[path] for r in res["floor"]) if floor else None
        ratio = ag / base
        paired = paired_ratio(res, "agent", "base", path)
        aj = med(r[path] for r in res["agent_jit"])
        line("B5", label, round(base), fl and round(fl), round(ag), ratio, "agent/base >= 0.95",
             "PASS" if ratio >= 0.95 else "MISS", key=path,
             extra={"per_round": {k: [r[path] for r in v] for k, v in res.items()},
                    "paired_ratio": paired, "floor_ratio": fl / base if fl else None,
                    "agent_vs_floor": ag / fl if fl else None,
                    "agent_jit": aj, "agent_jit_ratio": aj / base,
                    "agent_jit_paired_ratio": paired_ratio(res, "agent_jit", "base", path)})
        print(f"     {path}: median of per-round agent/base {paired:.3f}" +
              (f"; floor/base {fl / base:.3f}, agent/floor {ag / fl:.3f}" if fl else "") +
              f"; JIT alone (network sensor off) {round(aj)}/s, /base {aj / base:.3f} "
              f"(per-round {out['B5'][path]['agent_jit_paired_ratio']:.3f})", flush=True)
    out["B5"]["veth"]["granted_per_round"] = [r["granted"] for r in res["agent"] + res["agent_jit"]]
    cpu = [r["cpu_s"] / r["wall_s"] for r in out["agent_runs"] if r["variant"] == "B5 agent"]
    cpu_j = [r["cpu_s"] / r["wall_s"] for r in out["agent_runs"] if r["variant"] == "B5 agent_jit"]
    print(f"     vigild CPU during B5 (median, CPUs): default policy {med(cpu):.2f}, network sensor off "
          f"{med(cpu_j):.2f}", flush=True)


# ---------------------------------------------------------------- B6

def udp_mib(lab):
    """Datagrams that reached UDP in A (delivered, no port, or in error) from /proc/net/snmp."""
    rows = [l.split() for l in sh(in_ns(lab.a, ["cat", "/proc/net/snmp"]), check=True).stdout.splitlines()
            if l.startswith("Udp:")]
    d = dict(zip(rows[0][1:], map(int, rows[1][1:])))
    return d["InDatagrams"] + d["NoPorts"] + d["InErrors"]


def b6(lab, state, args):
    def measure(name, ctx):
        if isinstance(ctx, Vigil):
            count = lambda: ctx.jit_status()["packets"]["dropped"]   # noqa: E731
        elif isinstance(ctx, Xdp):
            count = ctx.drops
        else:
            count = lambda: udp_mib(lab)   # noqa: E731
        c0 = count()
        r = sh(in_ns(lab.b, [os.path.join(BENCH, "jit_flood"), lab.vb, lab.mac_a, lab.ip_b2, lab.ip_a,
                             str(PORT_UDP), str(args.flood_s)]), check=True, timeout=args.flood_s + 30)
        f = json.loads(r.stdout)
        time.sleep(0.3)   # packets still queued on the veth when the sender stopped
        n = count() - c0
        return {"pps": n / f["seconds"], "sent_pps": f["pps"], "counted": n, "sent": f["sent"]}

    class Null:
        def __enter__(self):
            return self

        def __exit__(self, *e):
            return False
    res = interleave([("base", Null), ("floor", lambda: Xdp(lab, "xdp_drop")),
                      ("agent", lambda: Vigil(lab, state, "B6 agent"))], measure, args.rounds)
    base, fl, ag = (med(r["pps"] for r in res[k]) for k in ("base", "floor", "agent"))
    ratio = ag / fl
    line("B6", "pps dropped at protected port", round(base), round(fl), round(ag), ratio, "agent/floor >= 0.8",
         "PASS" if ratio >= 0.8 else "MISS", key="drop",
         extra={"paired_ratio": paired_ratio(res, "agent", "floor", "pps"),"per_round": {k: [round(r["pps"]) for r in v] for k, v in res.items()},
                "sent_pps": {k: round(med(r["sent_pps"] for r in v)) for k, v in res.items()},
                "counted_of_sent": {k: round(med(r["counted"] / max(1, r["sent"]) for r in v), 4)
                                    for k, v in res.items()},
                "agent_vs_base": ag / base})
    print(f"     B6 median of per-round agent/floor {out['B6']['drop']['paired_ratio']:.3f}; "
          f"offered pps (sender, median): " +
          ", ".join(f"{k} {v}" for k, v in out["B6"]["drop"]["sent_pps"].items()) +
          "; counted/sent: " + ", ".join(f"{k} {v}" for k, v in out["B6"]["drop"]["counted_of_sent"].items()))


# ---------------------------------------------------------------- request to effect

PROBE = r"""
import select, socket, sys, time
dst, port, src, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
end, said = time.monotonic() + limit, False
while time.monotonic() < end:
    s = socket.socket(); s.setblocking(False); s.bind((src, 0))
    s.connect_ex((dst, port))
    p = select.poll(); p.register(s, select.POLLOUT)
    if p.poll(2) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
        print("open" if not said else f"{time.monotonic():.6f}", flush=True); sys.exit(0)
    s.close()
    if not said:
        print("blocked", flush=True); said = True
print("timeout", flush=True)
"""


def effect(lab, state, args):
    ms, cli_ms = [], []
    with Vigil(lab, state, "request-to-effect") as vg:
        for _ in range(args.rounds):
            p = subprocess.Popen(in_ns(lab.b, [sys.executable, "-c", PROBE, lab.ip_a, str(PORT_TCP), lab.ip_b2, "10"]),
                                 stdout=subprocess.PIPE, text=True)
            try:
                first = p.stdout.readline().strip()
                if first != "blocked":
                    raise RuntimeError(f"probe before the grant: expected blocked, seen {first!r}")
                time.sleep(0.05)
                t0 = time.monotonic()
                g = vg.request(f"{lab.ip_b2}/32", "5m")
                t1 = time.monotonic()
                seen = p.stdout.readline().strip()
                p.wait(15)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            try:
                t = float(seen)
            except ValueError:
                raise RuntimeError(f"granted source not let through within 10 s: {seen!r}")
            ms.append((t - t0) * 1000)
            cli_ms.append((t1 - t0) * 1000)
            r = vg.cli("jit", "revoke", g["id"])
            if r.returncode:
                raise RuntimeError(f"vigil jit revoke: {r.stderr.strip()}")
    line("JIT", "request -> effect (ms, p50)", None, None, round(med(ms), 2), None,
         "(info: ms, incl. CLI start)", "info", key="request_to_effect",
         extra={"per_round_ms": [round(x, 2) for x in ms], "cli_return_ms_p50": round(med(cli_ms), 2),
                "max_ms": round(max(ms), 2), "probe_resolution_ms": 2})
    print(f"     request->effect ms per round: {[round(x, 1) for x in ms]}; "
          f"`vigil jit request` returns after {med(cli_ms):.1f} ms (p50)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds, shorter loops (a smoke run)")
    args = ap.parse_args()
    args.rounds = 3 if args.quick else 5
    args.conns = 5000 if args.quick else 20000
    args.flood_s = 1.5 if args.quick else 3.0
    out["rounds"] = args.rounds
    out["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    if os.geteuid() != 0:
        print("bench_jit needs root (network namespaces, XDP)", file=sys.stderr)
        return 2

    def term(sig, frm):
        raise SystemExit(f"signal {sig}")
    signal.signal(signal.SIGTERM, term)
    lab = Lab()
    state = tempfile.mkdtemp(prefix="vigil-bench-jit-state-")
    try:
        try:
            build()
            lab.setup()
        except Exception as e:
            line("B5", "setup", None, None, None, None, "-", "FAIL", key="error", extra={"error": str(e)})
            print(f"     {type(e).__name__}: {e}", flush=True)
            out["failures"].append(f"setup: {e}")
            return 1
        for name, fn in (("B5", b5), ("B6", b6), ("JIT", effect)):
            try:
                fn(lab, state, args)
            except Exception as e:
                line(name, "error", None, None, None, None, "-", "FAIL", key="error", extra={"error": str(e)})
                print(f"     {type(e).__name__}: {e}", flush=True)
                out["failures"].append(f"{name}: {e}")
    finally:
        if lab.created:
            unpin_jit(lab, f"/sys/fs/bpf/vigil-bench-jit-{TAG}")
        shutil.rmtree(f"/sys/fs/bpf/vigil-bench-xdp-{TAG}", ignore_errors=True)
        lab.close()
        shutil.rmtree(state, ignore_errors=True)
        out["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        print(f"     load average at start {' '.join(out['loadavg_start'])}, at end {' '.join(out['loadavg_end'])} "
              f"({os.cpu_count()} CPUs): other work on the machine adds noise to every figure", flush=True)
        print(json.dumps(out, separators=(",", ":")), flush=True)
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
