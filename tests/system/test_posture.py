"""Posture: the catalogue through vigild and in-process, and `vigil fix` round trips on
real sysctls (network ones in a private network namespace; a kernel one through vigild,
restored afterwards)."""
import json, os, subprocess

from vigiltest import Daemon, check, on_cleanup, policy, tmpdir, VIGIL

STATUSES = {"healthy", "unhealthy", "not_applicable", "unknown"}


def _netns(script, timeout=60):
    """Runs a shell script in a new network namespace (gone when it exits)."""
    env = dict(os.environ, VIGIL=VIGIL, VIGIL_SOCKET="/nonexistent/vigild.sock")
    return subprocess.run(["unshare", "--net", "--", "sh", "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _rec(snap, id):
    m = [r for r in snap["recommendations"] if r["id"] == id]
    check(len(m) == 1, f"recommendation {id} present", 1, len(m))
    return m[0]


def _read(path):
    with open(path) as f:
        return f.read().strip()


def test_fix_sysctl_roundtrip_in_netns():
    d = tmpdir("vigiltest-sysctl-")
    host_before = _read("/proc/sys/net/ipv4/conf/all/accept_redirects")
    r = _netns('echo 1 > /proc/sys/net/ipv4/conf/all/accept_redirects; '
               '"$VIGIL" posture --local --json; echo "rc=$?" >&2; '
               f'"$VIGIL" fix net.icmp_redirects --dry-run --local --sysctl-dir {d} --json; '
               f'"$VIGIL" fix net.icmp_redirects --local --sysctl-dir {d} --json; echo "fix=$?" >&2; '
               '"$VIGIL" posture --local --json; '
               'cat /proc/sys/net/ipv4/conf/all/accept_redirects')
    lines = r.stdout.strip().split("\n")
    check(len(lines) == 5, "outputs of posture, dry run, fix, posture, cat", 5, (r.stdout, r.stderr))
    before, dry, fix, after, value = (json.loads(lines[0]), json.loads(lines[1]), json.loads(lines[2]),
                                      json.loads(lines[3]), lines[4])
    check("rc=1" in r.stderr, "posture exit with findings", "rc=1", r.stderr)
    check(_rec(before, "net.icmp_redirects")["status"] == "unhealthy", "before the fix", "unhealthy",
          _rec(before, "net.icmp_redirects"))
    check(dry["dry_run"] is True and dry["after"]["status"] == "unhealthy" and dry["actions"],
          "dry run changes nothing", "unhealthy with actions", dry)
    check("fix=0" in r.stderr, "fix exit", "fix=0", r.stderr)
    check(fix["before"]["status"] == "unhealthy" and fix["after"]["status"] == "healthy", "fix result",
          "unhealthy -> healthy", (fix["before"]["status"], fix["after"]["status"]))
    check(_rec(after, "net.icmp_redirects")["status"] == "healthy", "after the fix", "healthy",
          _rec(after, "net.icmp_redirects"))
    check(value == "0", "accept_redirects in the namespace", "0", value)
    conf = _read(os.path.join(d, "60-vigil-posture.conf"))
    check("net.ipv4.conf.all.accept_redirects = 0" in conf, "persisted in sysctl.d",
          "net.ipv4.conf.all.accept_redirects = 0", conf)
    check(_read("/proc/sys/net/ipv4/conf/all/accept_redirects") == host_before, "host namespace untouched",
          host_before, _read("/proc/sys/net/ipv4/conf/all/accept_redirects"))
    # unknown recommendation and one without an automated fix: usage error, nothing done
    r = _netns(f'"$VIGIL" fix no.such --local --sysctl-dir {d}; echo "a=$?"; '
               f'"$VIGIL" fix kernel.lockdown --local --sysctl-dir {d}; echo "b=$?"')
    check("a=2" in r.stdout and "b=2" in r.stdout, "exit 2 for unknown / not fixable", "a=2 b=2",
          (r.stdout, r.stderr))


def test_posture_through_vigild_and_fix_restore():
    key = "/proc/sys/fs/protected_symlinks"
    orig = _read(key)

    def restore():
        with open(key, "w") as f:
            f.write(orig)
    on_cleanup(restore)
    with open(key, "w") as f:
        f.write("0")
    d = tmpdir("vigiltest-sysctl-")
    vd = Daemon(policy(forward={"posture": {"interval_s": 3600, "sysctl_dir": d}}))
    r = vd.vigil("posture", "--json")
    check(r.returncode in (0, 1), "vigil posture exit", "0 or 1", (r.returncode, r.stderr))
    snap = json.loads(r.stdout)
    check(len(snap["recommendations"]) >= 25, "catalogue size", ">= 25", len(snap["recommendations"]))
    for rec in snap["recommendations"]:
        check(rec["status"] in STATUSES, f"{rec['id']} status", STATUSES, rec["status"])
        check(rec["status"] == "healthy" or rec.get("reason"), f"{rec['id']} has a reason", "reason", rec)
        for k in ("title", "description", "severity", "control", "remediation", "evidence", "fix"):
            check(k in rec, f"{rec['id']} has {k}", k, sorted(rec))
    for id in ("vigil.app_control", "vigil.fim_baseline", "vigil.event_loss", "vigil.enforcement_backend"):
        check("not running" not in _rec(snap, id).get("reason", ""), f"{id} assessed by vigild", "runtime data",
              _rec(snap, id))
    check("xdp" in (_rec(snap, "vigil.enforcement_backend")["evidence"] or {}), "backend evidence", "xdp",
          _rec(snap, "vigil.enforcement_backend"))
    check(snap["host"] and snap["kernel"] and "percent" in snap["score"], "snapshot header", "host/kernel/score", snap)
    check(_rec(snap, "fs.protected_symlinks")["status"] == "unhealthy", "fs.protected_symlinks = 0", "unhealthy",
          _rec(snap, "fs.protected_symlinks"))
    # the fix through vigild, then re-assessed
    r = vd.vigil("fix", "fs.protected_symlinks", "--json")
    check(r.returncode == 0, "vigil fix exit", 0, (r.returncode, r.stdout, r.stderr))
    res = json.loads(r.stdout)
    check(res["after"]["status"] == "healthy", "after the fix", "healthy", res)
    check(_read(key) == "1", "sysctl written", "1", _read(key))
    check("fs.protected_symlinks = 1" in _read(os.path.join(d, "60-vigil-posture.conf")), "persisted",
          "fs.protected_symlinks = 1", _read(os.path.join(d, "60-vigil-posture.conf")))
    snap = json.loads(vd.vigil("posture", "--json").stdout)
    check(_rec(snap, "fs.protected_symlinks")["status"] == "healthy", "posture after the fix", "healthy",
          _rec(snap, "fs.protected_symlinks"))
    # acknowledging event loss is vigil's own setting
    r = vd.vigil("fix", "vigil.event_loss", "--dry-run", "--json")
    check(r.returncode == 0 and json.loads(r.stdout)["actions"], "event-loss ack dry run", "an action",
          (r.returncode, r.stdout, r.stderr))
    st = vd.status()
    check(st["posture"]["runs"] >= 2, "posture runs in status", ">= 2", st["posture"])
    check(st["forward"]["enabled"] is False, "forwarding off without url", False, st["forward"])
    # the score table from the daemon's assessment
    r = vd.vigil("score")
    check(r.returncode == 0 and "Harden the operating system" in r.stdout, "vigil score (host)", "table",
          (r.returncode, r.stdout, r.stderr))
    # a bad "forward" section is refused with its position
    bad = os.path.join(vd.dir, "bad.json")
    with open(bad, "w") as f:
        json.dump(policy(forward={"url": "ftp://x", "token_file": "/etc/hostname"}), f, indent=1)
    r = subprocess.run([VIGIL, "policy", "check", bad], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "/forward/url" in r.stderr, "bad forward url rejected", "exit 2 at /forward/url",
          (r.returncode, r.stdout, r.stderr))
