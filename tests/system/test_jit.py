"""JIT port access, end to end: two network namespaces joined by a veth pair;
the protected echo server and a vigild (XDP on its veth end) run in netns A,
clients in netns B.  Nothing touches the host's own links.  vigild runs under
`nsenter --net` (not `ip netns exec`, which would give it a private bpffs),
with its own jit.pin_dir so tests never share pins."""
import datetime, json, os, signal, subprocess, sys, time

from vigiltest import Daemon, policy, check, on_cleanup, VIGIL, ROOT

PORT = 2200
_n = [0]

SERVER = r"""
import socket, sys, threading
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1]))); s.listen(128)
print("listening", flush=True)
def serve(c):
    try:
        while True:
            d = c.recv(100)
            if not d: break
            c.sendall(d)
    except OSError: pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = r"""
import socket, sys, time
dst, port, src, mode, arg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam); s.settimeout(1.5)
if src != "-": s.bind((src, 0))
try:
    s.connect((dst, port)); s.sendall(b"ping")
    if s.recv(10) != b"ping": raise OSError("bad echo")
except OSError as e:
    print("BLOCKED", e); sys.exit(0)
if mode == "once":
    print("OPEN"); sys.exit(0)
# session: keep the connection, echo again after `arg` seconds
time.sleep(arg)
try:
    s.sendall(b"pong"); print("OPEN", "SURVIVED" if s.recv(10) == b"pong" else "CUT")
except OSError as e:
    print("OPEN", "CUT", e)
"""


class Net:
    """Netns A (server, vigild) and B (clients) joined by a veth pair."""

    def __init__(self):
        _n[0] += 1
        tag = f"{os.getpid() % 10000}{_n[0]}"
        self.a, self.b = f"vjA{tag}", f"vjB{tag}"
        self.va, self.vb = f"vja{tag}", f"vjb{tag}"
        k = (os.getpid() + _n[0]) % 200 + 20
        self.ip_a, self.ip_b, self.ip_b2 = f"10.{k}.0.1", f"10.{k}.0.2", f"10.{k}.0.3"
        self.ip6_a, self.ip6_b = f"fd{k:02x}::1", f"fd{k:02x}::2"
        on_cleanup(self.destroy)
        for cmd in (["ip", "netns", "add", self.a], ["ip", "netns", "add", self.b],
                    ["ip", "link", "add", self.va, "netns", self.a, "type", "veth", "peer", "name", self.vb,
                     "netns", self.b],
                    ["ip", "-n", self.a, "addr", "add", f"{self.ip_a}/24", "dev", self.va],
                    ["ip", "-n", self.b, "addr", "add", f"{self.ip_b}/24", "dev", self.vb],
                    ["ip", "-n", self.b, "addr", "add", f"{self.ip_b2}/24", "dev", self.vb],
                    ["ip", "-n", self.a, "addr", "add", f"{self.ip6_a}/64", "dev", self.va, "nodad"],
                    ["ip", "-n", self.b, "addr", "add", f"{self.ip6_b}/64", "dev", self.vb, "nodad"],
                    ["ip", "-n", self.a, "link", "set", self.va, "up"],
                    ["ip", "-n", self.b, "link", "set", self.vb, "up"],
                    ["ip", "-n", self.a, "link", "set", "lo", "up"],
                    ["ip", "-n", self.b, "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True, timeout=10)
        self.pin_dir = f"/sys/fs/bpf/vigiltest-jit-{tag}"
        self.server = None

    def destroy(self):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10, stderr=subprocess.DEVNULL)
        subprocess.run([VIGIL, "jit", "disable", "--pin-dir", self.pin_dir, "--socket", "/nonexistent"],
                       check=False, timeout=10, capture_output=True)

    def start_server(self, port=PORT):
        p = subprocess.Popen(["ip", "netns", "exec", self.a, sys.executable, "-c", SERVER, str(port)],
                             stdout=subprocess.PIPE, text=True)
        on_cleanup(lambda: (p.kill(), p.wait()))
        check(p.stdout.readline().strip() == "listening", "echo server started in netns A")
        return p

    def connect(self, dst=None, src="-", mode="once", after=0.0, port=PORT):
        r = subprocess.run(["ip", "netns", "exec", self.b, sys.executable, "-c", CLIENT, dst or self.ip_a,
                            str(port), src, mode, str(after)], capture_output=True, text=True, timeout=60)
        return r.stdout.strip()

    def jit_policy(self, **jit):
        j = {"mode": "enforce", "interfaces": [self.va], "pin_dir": self.pin_dir,
             "ports": [{"port": PORT, "protocol": "tcp", "max_duration": "1h"}]}
        j.update(jit)
        return policy(jit=j, sensors={"file": False})


class NsDaemon(Daemon):
    """vigild in netns A (network namespace only: it shares the host's bpffs)."""

    def __init__(self, net, pol, **kw):
        self.net = net
        super().__init__(pol, **kw)

    def cmdline(self):
        return ["nsenter", f"--net=/var/run/netns/{self.net.a}"] + super().cmdline()


def jit(vd, *args):
    return vd.vigil("jit", *args)


def request(vd, src, duration, port=PORT, proto="tcp", why="test access"):
    r = jit(vd, "request", "--port", str(port), "--proto", proto, "--from", src, "--duration", duration,
            "--justification", why, "--json")
    check(r.returncode == 0, f"jit request {src} {duration} exit", 0, (r.returncode, r.stderr))
    return json.loads(r.stdout)["grant"]


def grants(vd):
    r = jit(vd, "list", "--json")
    check(r.returncode == 0, "jit list exit", 0, (r.returncode, r.stderr))
    return json.loads(r.stdout)["grants"]


def expect(net, what, want, **kw):
    seen = net.connect(**kw)
    check(seen.startswith(want), what, want, seen)


def test_jit_grant_opens_for_source_and_expires():
    net = Net()
    net.start_server()
    expect(net, "connect before the daemon (setup sanity)", "OPEN")
    vd = NsDaemon(net, net.jit_policy())
    st = json.loads(jit(vd, "status", "--json").stdout)["jit"]
    check(st["interfaces"] and st["interfaces"][0]["name"] == net.va, "attached to the veth", net.va,
          st["interfaces"])
    expect(net, "connect before a grant", "BLOCKED")
    t0 = time.time()
    g = request(vd, net.ip_b, "6s")
    check(g["source"] == f"{net.ip_b}/32" and g["port"] == PORT and g["justification"] == "test access",
          "grant fields", (f"{net.ip_b}/32", PORT), (g["source"], g["port"]))
    expect(net, "connect from the granted source", "OPEN", src=net.ip_b)
    expect(net, "connect from another source of the same host", "BLOCKED", src=net.ip_b2)
    expect(net, "IPv6 from the same host (not granted)", "BLOCKED", dst=net.ip6_a)
    lst = grants(vd)
    check(len(lst) == 1 and lst[0]["id"] == g["id"] and 0 < lst[0]["remaining_s"] <= 6, "jit list", g["id"], lst)
    check(lst[0]["requestor"]["uid"] == 0, "requestor from peer credentials", 0, lst[0]["requestor"])
    check(time.time() < t0 + 5.5, "checks done within the grant", "< 5.5 s", time.time() - t0)
    time.sleep(max(0, t0 + 6.3 - time.time()))
    expect(net, "connect after expiry", "BLOCKED", src=net.ip_b)
    vd.wait_alert(lambda a: a["rule"] == "jit_grant_issued" and a["jit"]["id"] == g["id"]
                  and a["severity"] == "informational", what="grant issued alert")
    vd.wait_alert(lambda a: a["rule"] == "jit_grant_expired" and a["jit"]["id"] == g["id"], what="expired alert")
    al = vd.wait_alert(lambda a: a["rule"] == "jit_access_blocked" and a["action"] == "blocked",
                       what="blocked attempt alert")
    check(al["network"]["port"] == PORT, "blocked alert port", PORT, al["network"])
    check(grants(vd) == [], "no grant listed after expiry", [], grants(vd))


def test_jit_ipv6_and_ipv4_mapped_same_grant():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy())
    g6 = request(vd, net.ip6_b, "30s")
    expect(net, "IPv6 client with a grant", "OPEN", dst=net.ip6_a)
    expect(net, "IPv4 client without a grant", "BLOCKED")
    gm = request(vd, f"::ffff:{net.ip_b}", "30s")
    check(gm["source"] == f"{net.ip_b}/32", "mapped source normalised", f"{net.ip_b}/32", gm["source"])
    expect(net, "IPv4 client with the ::ffff: grant", "OPEN", src=net.ip_b)
    # the same source spelled as IPv4 replaces the grant: one entry, never two
    g4 = request(vd, net.ip_b, "30s")
    check(g4.get("replaces") == gm["id"], "IPv4 spelling replaces the mapped grant", gm["id"], g4.get("replaces"))
    lst = grants(vd)
    check(sorted(x["id"] for x in lst) == sorted([g6["id"], g4["id"]]), "grants after replacement",
          sorted([g6["id"], g4["id"]]), [x["id"] for x in lst])
    # a shorter replacement takes effect: 1 s later the port is closed again
    request(vd, net.ip_b, "1s")
    check(len(grants(vd)) == 2, "replacement keeps one entry per source", 2, len(grants(vd)))
    time.sleep(1.3)
    expect(net, "IPv4 after the replacing grant expired", "BLOCKED", src=net.ip_b)
    expect(net, "IPv6 grant unaffected", "OPEN", dst=net.ip6_a)


def test_jit_established_session_survives_by_default():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy())
    request(vd, net.ip_b, "2s")
    out = net.connect(src=net.ip_b, mode="session", after=3.0)
    check(out.startswith("OPEN SURVIVED"), "established session after expiry (default mode)", "OPEN SURVIVED", out)
    expect(net, "new connection after expiry", "BLOCKED", src=net.ip_b)
    al = vd.wait_alert(lambda a: a["rule"] == "jit_session_outlived_grant", what="session outlived alert")
    check(al["jit"]["sessions"][0]["peer"] == net.ip_b, "session peer", net.ip_b, al["jit"]["sessions"])


def test_jit_strict_cuts_session_at_expiry():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy(strict=True))
    request(vd, net.ip_b, "2s")
    out = net.connect(src=net.ip_b, mode="session", after=3.0)
    check(out.startswith("OPEN CUT"), "established session after expiry (strict)", "OPEN CUT", out)


def test_jit_grant_expires_with_daemon_killed():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy())
    g = request(vd, net.ip_b, "3s")
    vd.kill()
    expect(net, "granted source with vigild killed", "OPEN", src=net.ip_b)
    expect(net, "other source with vigild killed", "BLOCKED", src=net.ip_b2)
    # from the grant's own end (the request itself may take a while on a loaded machine)
    end = datetime.datetime.fromisoformat(g["end"].replace("Z", "+00:00")).timestamp()
    check(end - time.time() <= 3.5, "grant ends 3 s after the request", "<= 3.5 s from now", end - time.time())
    time.sleep(max(0, end + 0.3 - time.time()))
    expect(net, "granted source after expiry, vigild still dead", "BLOCKED", src=net.ip_b)


def test_jit_restart_adopts_and_keeps_end_time():
    net = Net()
    net.start_server()
    pol = net.jit_policy()
    vd = NsDaemon(net, pol)
    g = request(vd, net.ip_b, "40s")
    vd.stop()
    expect(net, "still enforced while vigild is stopped", "BLOCKED", src=net.ip_b2)
    expect(net, "grant still open while vigild is stopped", "OPEN", src=net.ip_b)
    os.unlink(vd.stderr_path)   # so that start() waits for the new "ready" line
    vd.start()   # same policy, state and pin dirs
    lst = grants(vd)
    check(len(lst) == 1 and lst[0]["id"] == g["id"] and lst[0]["end"] == g["end"], "grant restored with its end time",
          (g["id"], g["end"]), [(x["id"], x["end"]) for x in lst])
    st = json.loads(jit(vd, "status", "--json").stdout)["jit"]
    check([i["adopted"] for i in st["interfaces"]] == [True], "pinned link adopted, not attached twice", [True],
          st["interfaces"])
    out = subprocess.run(["ip", "-n", net.a, "-d", "link", "show", net.va], capture_output=True, text=True).stdout
    check(out.count("prog/xdp") <= 1, "one XDP program on the veth", "<= 1", out)
    expect(net, "grant open after restart", "OPEN", src=net.ip_b)
    expect(net, "other source blocked after restart", "BLOCKED", src=net.ip_b2)


def test_jit_revoke_closes_now():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy())
    g = request(vd, net.ip_b, "60s")
    expect(net, "open before revoke", "OPEN", src=net.ip_b)
    r = jit(vd, "revoke", g["id"])
    check(r.returncode == 0, "revoke exit", 0, (r.returncode, r.stderr))
    expect(net, "blocked after revoke", "BLOCKED", src=net.ip_b)
    vd.wait_alert(lambda a: a["rule"] == "jit_grant_revoked" and a["jit"]["id"] == g["id"], what="revoked alert")
    r = jit(vd, "revoke", g["id"])
    check(r.returncode == 1 and "no grant" in r.stderr, "revoke of an unknown id", (1, "no grant"),
          (r.returncode, r.stderr))


def test_jit_audit_mode_logs_and_drops_nothing():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy(mode="audit"))
    expect(net, "connect without a grant in audit mode", "OPEN")
    al = vd.wait_alert(lambda a: a["rule"] == "jit_access_audited", what="audited attempt alert")
    check(al["action"] == "audited" and al["network"]["source"] == net.ip_b, "audit alert",
          ("audited", net.ip_b), (al["action"], al["network"]["source"]))
    st = json.loads(jit(vd, "status", "--json").stdout)["jit"]["packets"]
    check(st["dropped"] == 0 and st["audited"] >= 1, "audit counters", "dropped 0, audited >= 1", st)


def test_jit_bad_requests_refused_nothing_changed():
    net = Net()
    vd = NsDaemon(net, net.jit_policy(ports=[{"port": PORT, "allowed_sources": ["10.0.0.0/8", "fd00::/8"],
                                              "max_duration": "10m"}]))
    cases = [
        (["--port", "2300", "--from", net.ip_b, "--duration", "1m"], "not protected"),
        (["--port", str(PORT), "--from", "10.0.0.0/7", "--duration", "1m"], "not inside the prefixes allowed"),
        (["--port", str(PORT), "--from", "192.168.1.1", "--duration", "1m"], "not inside the prefixes allowed"),
        (["--port", str(PORT), "--from", net.ip_b, "--duration", "11m"], "exceeds the maximum"),
        (["--port", str(PORT), "--from", net.ip_b, "--duration", "0"], "must be positive"),
        (["--port", str(PORT), "--from", net.ip_b, "--duration", "-5m"], "malformed duration"),
        (["--port", str(PORT), "--from", "10.1.2.x", "--duration", "1m"], "malformed address"),
        (["--port", str(PORT), "--from", "10.1.2.3/40", "--duration", "1m"], "malformed prefix length"),
        (["--port", str(PORT), "--proto", "sctp", "--from", net.ip_b, "--duration", "1m"], "unknown protocol"),
    ]
    for args, why in cases:
        r = jit(vd, "request", *args, "--justification", "x")
        check(r.returncode == 1 and why in r.stderr, f"refusal of {args}", (1, why), (r.returncode, r.stderr))
    check(grants(vd) == [], "no grant after refusals", [], grants(vd))
    h = json.loads(jit(vd, "history", "--json").stdout)["history"]
    check(sum(1 for e in h if e["event"] == "refused") == len(cases), "every refusal recorded", len(cases),
          [e["event"] for e in h])
    r = jit(vd, "request", "--port", str(PORT), "--from", net.ip_b, "--duration", "1m")
    check(r.returncode == 2, "missing justification is a usage error", 2, r.returncode)


def test_jit_brute_force_alert():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy(brute_force={"threshold": 5, "window": "60s"}))
    for _ in range(3):
        net.connect(src=net.ip_b2)   # each blocked connect retries its SYN
    al = vd.wait_alert(lambda a: a["rule"] == "jit_brute_force", what="brute force alert")
    check(al["mitre"]["technique"] == "T1110" and al["network"]["source"] == net.ip_b2
          and al["network"]["window_attempts"] == 5 and al["network"]["window_s"] == 60,
          "brute force alert", ("T1110", net.ip_b2, 5, 60),
          (al["mitre"]["technique"], al["network"]["source"], al["network"].get("window_attempts"),
           al["network"].get("window_s")))


def test_jit_disable_removes_pins():
    net = Net()
    net.start_server()
    vd = NsDaemon(net, net.jit_policy())
    expect(net, "blocked while enforced", "BLOCKED")
    check(os.path.exists(os.path.join(net.pin_dir, "vigil_jit_grant")), "grant map pinned", True, False)
    r = jit(vd, "disable")
    check(r.returncode == 0, "jit disable exit", 0, (r.returncode, r.stderr))
    check(not os.path.exists(net.pin_dir), "pin dir removed", False, os.path.exists(net.pin_dir))
    expect(net, "open after disable", "OPEN")


CRAFT_CASES = ["v4_plain", "v4_opts", "v4_frag16", "v4_frag8", "v4_trunc",
               "v6_plain", "v6_ext", "v6_longchain", "v6_frag_short"]


def craft(net, case):
    from vigiltest import helper
    mac = json.loads(subprocess.run(["ip", "-n", net.a, "-j", "link", "show", net.va], capture_output=True,
                                    text=True, check=True).stdout)[0]["address"]
    v6 = case.startswith("v6")
    r = subprocess.run(["ip", "netns", "exec", net.b, helper("jit_craft"), net.vb, mac, case,
                        net.ip6_b if v6 else net.ip_b, net.ip6_a if v6 else net.ip_a, str(PORT)],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 0, f"jit_craft {case} exit", 0, (r.returncode, r.stderr))
    return r.stdout.strip()


def test_jit_malformed_packets_never_reach_the_port():
    net = Net()
    net.start_server()
    net.connect()                      # neighbour entries in both namespaces
    net.connect(dst=net.ip6_a)
    # without vigild: which crafted SYNs does the kernel deliver?  (proves each trick is real)
    base = {c: craft(net, c) for c in CRAFT_CASES}
    for c in ("v4_plain", "v4_opts", "v4_frag16", "v4_frag8", "v6_plain", "v6_ext", "v6_longchain"):
        check(base[c] == "SYNACK", f"{c} reaches the port without vigild", "SYNACK", base[c])
    vd = NsDaemon(net, net.jit_policy())
    for c in CRAFT_CASES:
        check(craft(net, c) == "NONE", f"{c} with JIT enforced and no grant", "NONE", "SYNACK")
    st = json.loads(jit(vd, "status", "--json").stdout)["jit"]["packets"]
    check(st["malformed"] >= 3, "malformed packets counted (frag8, trunc, longchain, frag_short)", ">= 3", st)
    # with grants the well-formed variants pass again: the parser finds the real port and source
    request(vd, net.ip_b, "30s")
    request(vd, net.ip6_b, "30s")
    for c in ("v4_plain", "v4_opts", "v4_frag16", "v6_plain", "v6_ext"):
        check(craft(net, c) == "SYNACK", f"{c} with a grant", "SYNACK", "NONE")
    check(craft(net, "v6_longchain") == "NONE", "over-long extension chain dropped even with a grant", "NONE",
          "SYNACK")


# ---------------------------------------------------------------- VLAN, TC, new interfaces

# Tags outermost first, all with VLAN id 0 (802.1p priority tags): the kernel strips
# such tags one after the other, whatever their number, and delivers the IP packet
# beneath to the local socket even without 802.1Q support or VLAN interfaces (this
# kernel has CONFIG_VLAN_8021Q off, and a tag with a non-zero id would be dropped by
# the stack itself, proving nothing).  So without vigild every case gets a SYN-ACK,
# and NONE with vigild is vigild's drop.
VLAN_CASES = [("dot1q", "8100:0"), ("qinq", "88a8:0,8100:0"), ("three_tags", "88a8:0,8100:0,8100:0")]


def craft_vlan(net, tags, src=None):
    from vigiltest import helper
    mac = json.loads(subprocess.run(["ip", "-n", net.a, "-j", "link", "show", net.va], capture_output=True,
                                    text=True, check=True).stdout)[0]["address"]
    r = subprocess.run(["ip", "netns", "exec", net.b, helper("jit_craft"), net.vb, mac, "v4_plain",
                        src or net.ip_b, net.ip_a, str(PORT), tags], capture_output=True, text=True, timeout=20)
    check(r.returncode == 0, f"jit_craft {tags} exit", 0, (r.returncode, r.stderr))
    return r.stdout.strip()


def jit_status(vd):
    r = jit(vd, "status", "--json")
    check(r.returncode == 0, "jit status exit", 0, (r.returncode, r.stderr))
    return json.loads(r.stdout)["jit"]


def vlan_drop_then_pass(hook):
    net = Net()
    net.start_server()
    net.connect()                      # neighbour entries in both namespaces
    base = {name: craft_vlan(net, tags) for name, tags in VLAN_CASES}
    check(all(v == "SYNACK" for v in base.values()), "tagged SYNs reach the port without vigild (setup proof)",
          "SYNACK for every stack", base)
    vd = NsDaemon(net, net.jit_policy(hook=hook))
    st = jit_status(vd)
    want = ("tc",) if hook == "tc" else ("xdp_native", "xdp_generic")
    check([i["name"] for i in st["interfaces"]] == [net.va] and st["interfaces"][0]["hook"] in want,
          f"hook {hook} on the veth", (net.va, want), st["interfaces"])
    for name, tags in VLAN_CASES:
        check(craft_vlan(net, tags) == "NONE", f"{name} SYN without a grant ({hook})", "NONE", "SYNACK")
    # the drop is the parser's judgement of the IP packet under the tags (its source and port)
    vd.wait_alert(lambda a: a["rule"] == "jit_access_blocked" and a["network"]["source"] == net.ip_b
                  and a["network"]["port"] == PORT, what=f"blocked alert naming {net.ip_b} port {PORT}")
    m0 = jit_status(vd)["packets"]["malformed"]
    request(vd, net.ip_b, "60s")
    check(craft_vlan(net, VLAN_CASES[0][1]) == "SYNACK", f"802.1Q SYN with a grant ({hook})", "SYNACK", "NONE")
    check(craft_vlan(net, VLAN_CASES[1][1]) == "SYNACK", f"QinQ SYN with a grant ({hook})", "SYNACK", "NONE")
    check(craft_vlan(net, VLAN_CASES[2][1], net.ip_b) == "NONE", f"three tags dropped even with a grant ({hook})",
          "NONE", "SYNACK")
    m1 = jit_status(vd)["packets"]["malformed"]
    check(m1 > m0, "third-tag drop counted as malformed", f"> {m0}", m1)
    vd.wait_alert(lambda a: a["rule"] == "jit_malformed_packet" and a["network"]["reason"] == "too_many_vlan_tags",
                  what="malformed-packet alert for the third tag")
    check(craft_vlan(net, VLAN_CASES[1][1], net.ip_b2) == "NONE", f"QinQ SYN from a source without a grant ({hook})",
          "NONE", "SYNACK")


def test_jit_vlan_tagged_syn_xdp():
    vlan_drop_then_pass("auto")


def test_jit_vlan_tagged_syn_tc():
    vlan_drop_then_pass("tc")


def tc_filters(net):
    return subprocess.run(["ip", "netns", "exec", net.a, "tc", "filter", "show", "dev", net.va, "ingress"],
                          capture_output=True, text=True, timeout=10).stdout


def test_jit_tc_hook_blocks_and_grants_like_xdp():
    net = Net()
    net.start_server()
    net.connect()
    net.connect(dst=net.ip6_a)
    pol = net.jit_policy(hook="tc")
    vd = NsDaemon(net, pol)
    st = jit_status(vd)
    check([(i["name"], i["hook"]) for i in st["interfaces"]] == [(net.va, "tc")], "TC hook chosen",
          [(net.va, "tc")], st["interfaces"])
    link = subprocess.run(["ip", "-n", net.a, "-d", "link", "show", net.va], capture_output=True, text=True).stdout
    check("xdp" not in link, "no XDP program with hook tc", "no xdp", link)
    flt = tc_filters(net)
    check(flt.count("handle 0x7669 ") == 1, "one vigil TC filter (handle 0x7669) on ingress", 1, flt)
    expect(net, "connect without a grant (tc)", "BLOCKED")
    expect(net, "IPv6 connect without a grant (tc)", "BLOCKED", dst=net.ip6_a)
    g = request(vd, net.ip_b, "60s")
    expect(net, "granted source (tc)", "OPEN", src=net.ip_b)
    expect(net, "other source of the same host (tc)", "BLOCKED", src=net.ip_b2)
    for c in CRAFT_CASES:
        want = "SYNACK" if c in ("v4_plain", "v4_opts", "v4_frag16") else "NONE"
        check(craft(net, c) == want, f"crafted {c} from the granted IPv4 source (tc)", want,
              "NONE" if want == "SYNACK" else "SYNACK")
    # TC filters are not pinned: they must survive the daemon and be adopted, not doubled
    vd.stop()
    expect(net, "enforced while vigild is stopped (tc)", "BLOCKED", src=net.ip_b2)
    expect(net, "grant open while vigild is stopped (tc)", "OPEN", src=net.ip_b)
    os.unlink(vd.stderr_path)
    vd.start()
    st = jit_status(vd)
    check([(i["hook"], i["adopted"]) for i in st["interfaces"]] == [("tc", True)], "TC filter adopted on restart",
          [("tc", True)], st["interfaces"])
    flt = tc_filters(net)
    check(flt.count("handle 0x7669 ") == 1, "still one vigil TC filter after restart", 1, flt)
    r = jit(vd, "revoke", g["id"])
    check(r.returncode == 0, "revoke exit (tc)", 0, (r.returncode, r.stderr))
    expect(net, "blocked after revoke (tc)", "BLOCKED", src=net.ip_b)
    r = jit(vd, "disable")
    check(r.returncode == 0, "jit disable exit (tc)", 0, (r.returncode, r.stderr))
    flt = tc_filters(net)
    check("handle 0x7669 " not in flt, "TC filter removed by disable", "no filter", flt)
    expect(net, "open after disable (tc)", "OPEN")


def test_jit_interface_added_after_start_is_enforced():
    net = Net()
    net.start_server()
    k = net.ip_a.split(".")[1]
    tag = net.va[3:]
    va2, vb2 = f"vjx{tag}", f"vjy{tag}"
    ip_a2, ip_b2 = f"10.{k}.50.1", f"10.{k}.50.2"
    vd = NsDaemon(net, net.jit_policy(interfaces=[]))   # every non-loopback interface, present or future
    st = jit_status(vd)
    check([i["name"] for i in st["interfaces"]] == [net.va], "attached to the existing veth", [net.va],
          st["interfaces"])
    for cmd in (["ip", "link", "add", va2, "netns", net.a, "type", "veth", "peer", "name", vb2, "netns", net.b],
                ["ip", "-n", net.a, "addr", "add", f"{ip_a2}/24", "dev", va2],
                ["ip", "-n", net.b, "addr", "add", f"{ip_b2}/24", "dev", vb2],
                ["ip", "-n", net.a, "link", "set", va2, "up"],
                ["ip", "-n", net.b, "link", "set", vb2, "up"]):
        subprocess.run(cmd, check=True, timeout=10)
    deadline = time.time() + 5
    while True:
        st = jit_status(vd)
        names = sorted(i["name"] for i in st["interfaces"])
        if names == sorted([net.va, va2]) or time.time() > deadline:
            break
        time.sleep(0.1)
    check(names == sorted([net.va, va2]), "new interface attached within 5 s", sorted([net.va, va2]),
          (names, st.get("attach_error")))
    new = [i for i in st["interfaces"] if i["name"] == va2][0]
    check(new["hook"] in ("xdp_native", "xdp_generic") and not new["adopted"], "new interface hook",
          "xdp, not adopted", new)
    link = subprocess.run(["ip", "-n", net.a, "-d", "link", "show", va2], capture_output=True, text=True).stdout
    check("prog/xdp" in link, "XDP program on the new interface (ip link)", "prog/xdp", link)
    expect(net, "connect over the new interface without a grant", "BLOCKED", dst=ip_a2)
    request(vd, ip_b2, "60s")
    expect(net, "connect over the new interface with a grant", "OPEN", dst=ip_a2)
    expect(net, "old interface still closed to its own address", "BLOCKED")
    # the interface goes away: its entry goes with it, the rest stays enforced
    subprocess.run(["ip", "-n", net.a, "link", "del", va2], check=True, timeout=10)
    deadline = time.time() + 5
    while time.time() < deadline and len(jit_status(vd)["interfaces"]) != 1:
        time.sleep(0.1)
    st = jit_status(vd)
    check([i["name"] for i in st["interfaces"]] == [net.va], "removed interface dropped from status", [net.va],
          st["interfaces"])
    check(not os.path.exists(os.path.join(net.pin_dir, f"xdp_{va2}")), "pinned link of the removed interface gone",
          False, True)
    expect(net, "still enforced on the remaining veth", "BLOCKED")
