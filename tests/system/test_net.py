"""Network sensor (bpf/net.bpf.c, userspace/lib/event_net.c): connect, accept,
listen and bind on TCP and UDP, IPv4, IPv6 and IPv4-mapped IPv6, with real
sockets in this process (the actor is os.getpid()) or in the net_connect helper.

Each test compares the whole "network" object of a record with the expected
one, so a wrong address, port, family or flag fails with both shown.
"""
import ctypes, errno, os, select, socket, subprocess

from vigiltest import Daemon, check, helper, on_cleanup, policy

LO4, LO6, MAPPED_LO = "127.0.0.1", "::1", "::ffff:127.0.0.1"


def net_daemon(**sensors):
    """vigild with network telemetry; the file sensor is off (not under test here)."""
    s = {"exec": True, "file": False, "network": True}
    s.update(sensors)
    return Daemon(policy(sensors=s, telemetry={"network": True, "file": False}))


def sock(family=socket.AF_INET, type=socket.SOCK_STREAM, timeout=5):
    """A socket closed at cleanup.  timeout=None makes it truly blocking: Python runs a
    socket with a timeout in non-blocking mode, so its connect() is an EINPROGRESS connect.
    A blocking loopback connect to a listener completes at once; the runner's alarm bounds it."""
    s = socket.socket(family, type)
    s.settimeout(timeout)
    on_cleanup(s.close)
    return s


def port_of(s):
    return s.getsockname()[1]


def endpoint(addr, port):
    return {"address": addr, "port": port}


def record(op, proto, family, local, remote=None, mapped=False, in_progress=None):
    r = {"op": op, "protocol": proto, "family": family, "ipv4_mapped": mapped, "local": local}
    if remote is not None:
        r["remote"] = remote
    if in_progress is not None:
        r["in_progress"] = in_progress
    return r


def wait_net(vd, op, match, pid=None, timeout=10):
    """First network record of op by pid (default: this process) whose "network" satisfies match."""
    pid = os.getpid() if pid is None else pid
    try:
        return vd.wait_event(
            lambda e: e["type"] == "network" and e["process"]["pid"] == pid
            and e["network"]["op"] == op and match(e["network"]),
            timeout, f"network {op} record of pid {pid}")
    except AssertionError as e:
        seen = [r["network"] for r in vd.events() if r["type"] == "network"
                and r["network"].get("op") == op][-4:]
        raise AssertionError(f"{e}; last {op} records seen: {seen}") from None


def expect(vd, expected, match, pid=None):
    """Waits for the record chosen by match and compares its whole network object."""
    ev = wait_net(vd, expected["op"], match, pid)
    check(ev["network"] == expected, f"{expected['op']} record", expected, ev["network"])
    return ev


def check_no_loss(vd):
    loss = vd.status()["loss"]["network"]
    check(loss == {"ringbuf_full": 0, "read_failed": 0}, "network loss counters",
          {"ringbuf_full": 0, "read_failed": 0}, loss)


def tcp_exchange(vd, family, server_addr, client_family, connect_addr, shown, mapped_client,
                 mapped_server, server_family_name, client_family_name, bind_shown):
    """listen on server_addr, connect from a client_family socket to connect_addr, accept;
    checks the four records.  shown: how the loopback address must appear in connect/accept."""
    srv = sock(family)
    if family == socket.AF_INET6:
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind((server_addr, 0))
    srv.listen(8)
    sport = port_of(srv)
    cli = sock(client_family, timeout=None)
    cli.connect((connect_addr, sport))
    cport = port_of(cli)
    conn, peer = srv.accept()
    on_cleanup(conn.close)
    check(cport != 0 and peer[1] == cport, "client port seen by accept()", cport, peer)

    expect(vd, record("bind", "tcp", server_family_name, endpoint(bind_shown, sport)),
           lambda n: n["local"]["port"] == sport)
    expect(vd, record("listen", "tcp", server_family_name, endpoint(bind_shown, sport)),
           lambda n: n["local"]["port"] == sport)
    expect(vd, record("connect", "tcp", client_family_name, endpoint(shown, cport),
                      endpoint(shown, sport), mapped=mapped_client, in_progress=False),
           lambda n: n["remote"]["port"] == sport)
    expect(vd, record("accept", "tcp", server_family_name, endpoint(shown, sport),
                      endpoint(shown, cport), mapped=mapped_server),
           lambda n: n["remote"]["port"] == cport)


def test_tcp_ipv4():
    """bind, listen, connect and accept on 127.0.0.1, with both ports, and no loss."""
    with net_daemon() as vd:
        tcp_exchange(vd, socket.AF_INET, LO4, socket.AF_INET, LO4, LO4, False, False,
                     "ipv4", "ipv4", LO4)
        check_no_loss(vd)


def test_tcp_ipv6():
    with net_daemon() as vd:
        tcp_exchange(vd, socket.AF_INET6, LO6, socket.AF_INET6, LO6, LO6, False, False,
                     "ipv6", "ipv6", LO6)


def test_tcp_ipv4_mapped_connect():
    """An AF_INET6 socket connecting to ::ffff:127.0.0.1: shown as 127.0.0.1, family ipv6, mapped."""
    with net_daemon() as vd:
        tcp_exchange(vd, socket.AF_INET, LO4, socket.AF_INET6, MAPPED_LO, LO4, True, False,
                     "ipv4", "ipv6", LO4)


def test_tcp_dual_stack_accept_mapped():
    """An IPv4 client accepted by a dual-stack AF_INET6 listener on [::]: the accept is mapped."""
    with net_daemon() as vd:
        tcp_exchange(vd, socket.AF_INET6, "::", socket.AF_INET, LO4, LO4, False, True,
                     "ipv6", "ipv4", "::")


def test_udp_bind_connect():
    """UDP bind (explicit port) and connect (autobound local port), IPv4, IPv6 and mapped."""
    with net_daemon() as vd:
        for fam, addr, target, shown, name, mapped in (
                (socket.AF_INET, LO4, LO4, LO4, "ipv4", False),
                (socket.AF_INET6, LO6, LO6, LO6, "ipv6", False)):
            srv = sock(fam, socket.SOCK_DGRAM)
            srv.bind((addr, 0))
            sport = port_of(srv)
            cli = sock(fam, socket.SOCK_DGRAM, timeout=None)
            cli.connect((target, sport))
            cport = port_of(cli)
            check(cport != 0, "autobound UDP port", "non-zero", cport)
            expect(vd, record("bind", "udp", name, endpoint(shown, sport)),
                   lambda n: n["local"]["port"] == sport)
            expect(vd, record("connect", "udp", name, endpoint(shown, cport),
                              endpoint(shown, sport), mapped=mapped, in_progress=False),
                   lambda n: n["remote"]["port"] == sport)
        # AF_INET6 datagram socket to an IPv4-mapped address
        srv = sock(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind((LO4, 0))
        sport = port_of(srv)
        cli = sock(socket.AF_INET6, socket.SOCK_DGRAM, timeout=None)
        cli.connect((MAPPED_LO, sport))
        cport = port_of(cli)
        expect(vd, record("connect", "udp", "ipv6", endpoint(LO4, cport), endpoint(LO4, sport),
                          mapped=True, in_progress=False),
               lambda n: n["remote"]["port"] == sport)


def test_nonblocking_connect_in_progress():
    """A non-blocking TCP connect returning EINPROGRESS is reported with in_progress."""
    with net_daemon() as vd:
        srv = sock()
        srv.bind((LO4, 0))
        srv.listen(8)
        sport = port_of(srv)
        cli = sock(timeout=None)
        cli.setblocking(False)
        rc = cli.connect_ex((LO4, sport))
        check(rc == errno.EINPROGRESS, "non-blocking connect errno", errno.EINPROGRESS, rc)
        cport = port_of(cli)
        expect(vd, record("connect", "tcp", "ipv4", endpoint(LO4, cport), endpoint(LO4, sport),
                          in_progress=True),
               lambda n: n["remote"]["port"] == sport)


def test_accept_syscall_and_refused_connect():
    """accept(2) (not accept4) is reported; a refused connect is not (documented choice)."""
    with net_daemon() as vd:
        # a port with nothing listening: bound, never listened on
        dead = sock()
        dead.bind((LO4, 0))
        dport = port_of(dead)
        probe = sock(timeout=None)
        rc = probe.connect_ex((LO4, dport))
        check(rc == errno.ECONNREFUSED, "blocking connect to a closed port", errno.ECONNREFUSED, rc)
        nb = sock(timeout=None)
        nb.setblocking(False)
        rc = nb.connect_ex((LO4, dport))
        check(rc in (errno.EINPROGRESS, errno.ECONNREFUSED), "non-blocking connect to a closed port",
              "EINPROGRESS or ECONNREFUSED", rc)

        srv = sock()
        srv.bind((LO4, 0))
        srv.listen(8)
        sport = port_of(srv)
        cli = sock(timeout=None)
        cli.connect((LO4, sport))
        cport = port_of(cli)
        r, _, _ = select.select([srv], [], [], 5)
        check(r, "pending connection on the listener")
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.accept(srv.fileno(), None, None)
        check(fd >= 0, "accept(2)", ">= 0", (fd, ctypes.get_errno()))
        on_cleanup(lambda: os.close(fd))
        expect(vd, record("accept", "tcp", "ipv4", endpoint(LO4, sport), endpoint(LO4, cport)),
               lambda n: n["remote"]["port"] == cport)
        # records arrive in order: the refused connects came before this accept.  A
        # non-blocking connect already refused when the syscall returned (loopback) is a
        # failure too; none may show a local port 0.
        bad = [e["network"] for e in vd.events() if e["type"] == "network"
               and e["network"]["op"] == "connect" and e["network"]["remote"]["port"] == dport]
        check(not bad, "no record for a refused connect", [], bad)


def test_other_process_actor():
    """A connect by a child process names that process (pid, exe), IPv4 and IPv6."""
    with net_daemon() as vd:
        for fam, addr in ((socket.AF_INET, LO4), (socket.AF_INET6, LO6)):
            srv = sock(fam)
            srv.bind((addr, 0))
            srv.listen(8)
            sport = port_of(srv)
            p = subprocess.Popen([helper("net_connect"), "tcp", addr, str(sport)],
                                 stdout=subprocess.PIPE, text=True)
            on_cleanup(lambda p=p: p.poll() is None and p.kill())
            out, _ = p.communicate(timeout=10)
            check(p.returncode == 0, "net_connect exit", 0, (p.returncode, out))
            cport = int(out.split()[0])
            name = "ipv4" if fam == socket.AF_INET else "ipv6"
            ev = expect(vd, record("connect", "tcp", name, endpoint(addr, cport),
                                   endpoint(addr, sport), in_progress=False),
                        lambda n: n["remote"]["port"] == sport, pid=p.pid)
            exe = ev["process"].get("exe", "")
            check(exe.endswith("/net_connect"), "actor exe", "…/net_connect", exe)


def test_sensor_off_reports_nothing():
    """With sensors.network false no network record is written."""
    with net_daemon(network=False) as vd:
        srv = sock()
        srv.bind((LO4, 0))
        srv.listen(8)
        cli = sock()
        cli.connect((LO4, port_of(srv)))
        conn, _ = srv.accept()
        on_cleanup(conn.close)
        vd.settle(1.0)
        seen = [e for e in vd.events() if e["type"] == "network"]
        check(not seen, "network records with the sensor off", [], seen[:2])
