"""Posture workloads: the snapshot vigild assesses (and forwards to vigil-scored) lists the
containers running on the node, grouped from the process table by container id, with the
pod name, namespace, pod uid and container name (here from a /var/log/pods fixture below
--host-root) and the number of processes; a container whose processes exit leaves the list."""
import json, os, subprocess, time, uuid

from vigiltest import Daemon, check, on_cleanup
import test_k8s as k8s
import test_scored as sct

POD_UID = "7d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"
CID = "5f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100"
NS, POD, NAME = "shop", "checkout-6d8f9c7b5-x2k4p", "checkout"


def _spawn_in_cgroup(cg, argv):
    """Starts argv (left running) in cgroup cg, joined before exec as runc's init does."""
    def join():
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    p = subprocess.Popen(argv, preexec_fn=join)

    def stop():
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
    on_cleanup(stop)
    return p


def _snapshot(vd):
    r = vd.vigil("posture", "--json")
    check(r.returncode in (0, 1), "vigil posture --json exit", "0 or 1", (r.returncode, r.stderr))
    return json.loads(r.stdout)


def _ours(workloads):
    return [w for w in workloads or [] if w.get("id") == CID]


def _wait(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last[0]:
            return last[1]
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout}s: last seen {last[1]!r}")


def test_posture_lists_pod_workloads():
    root = k8s.host_root()
    k8s.pod_log_dir(root, NS, POD, POD_UID, [NAME])
    cg = k8s.kubepods_cgroup(POD_UID, CID)
    early = _spawn_in_cgroup(cg, ["sleep", "300"])      # before vigild: seeded from /proc
    sc = sct.Scored()
    host = "wl-" + uuid.uuid4().hex[:8]
    tf, rd = sc.token_file(host), sc.token("ops", "reader")
    sc.start()
    k8s.set_env(VIGIL_K8S_API="off", KUBERNETES_SERVICE_HOST=None)
    vd = Daemon(sct._agent_policy(sc, tf, host), args=["--host-root", root])
    late = _spawn_in_cgroup(cg, ["sleep", "301"])       # after: known from its exec event

    # 1. the daemon's snapshot lists the container once, with its pod and both processes
    def two_procs():
        snap = _snapshot(vd)
        w = _ours(snap.get("workloads"))
        return (len(w) == 1 and w[0].get("processes") == 2, snap.get("workloads"))
    _wait(two_procs, 15, "workload with 2 processes in vigil posture")
    snap = _snapshot(vd)
    check(isinstance(snap.get("workloads"), list), "snapshot has a workloads array", "list", snap.get("workloads"))
    check(snap.get("workloads_omitted") == 0, "workloads_omitted", 0, snap.get("workloads_omitted"))
    w = _ours(snap["workloads"])
    check(len(w) == 1, f"one workload for container {CID[:12]}", 1, snap["workloads"])
    want = {"id": CID, "runtime": "containerd", "pod_uid": POD_UID, "pod": POD, "namespace": NS, "name": NAME,
            "processes": 2}
    for k, v in want.items():
        check(w[0].get(k) == v, f"workload.{k}", v, w[0].get(k))
    r = vd.vigil("posture")
    check(f"{NS}/{POD}" in r.stdout and CID[:12] in r.stdout, "vigil posture (text) lists the pod",
          f"{CID[:12]} ... {NS}/{POD}", r.stdout[-2000:])
    st = vd.status()["posture"]
    check(st.get("workloads", 0) >= 1, "vigil status posture.workloads", ">= 1", st)

    # 2. vigil-scored stored it: the host's page lists it, the host list counts it
    def stored():
        s, body = sc.request("GET", f"/api/v1/hosts/{host}", rd)
        w = _ours(body.get("workloads")) if s == 200 else []
        return (len(w) == 1 and w[0].get("processes") == 2, body)
    body = _wait(stored, 30, "the workload stored by vigil-scored")
    w = _ours(body["workloads"])[0]
    for k in ("pod", "namespace", "pod_uid", "name"):
        check(w.get(k) == want[k], f"stored workload.{k}", want[k], w.get(k))
    check(body.get("workload_count", 0) >= 1, "host workload_count", ">= 1", body.get("workload_count"))
    inv = {h["host"]: h for h in sc.get("/api/v1/hosts", rd)["hosts"]}
    check(inv.get(host, {}).get("workload_count") == body["workload_count"], "hosts list workload_count",
          body["workload_count"], inv.get(host))

    # 3. the container's processes exit: the next snapshot (and the service) no longer list it
    for p in (early, late):
        p.kill()
        p.wait(timeout=10)
    _wait(lambda: (lambda s: (not _ours(s.get("workloads")), s.get("workloads")))(_snapshot(vd)), 15,
          "workload gone from vigil posture after its processes exited")
    _wait(lambda: (lambda b: (not _ours(b.get("workloads")), b.get("workloads")))(
        sc.get(f"/api/v1/hosts/{host}", rd)), 30, "workload gone from vigil-scored")


test_posture_lists_pod_workloads.timeout = 180
