"""Pod awareness: container id from a kubepods cgroup -> pod name, namespace, pod uid,
container name and image, from the Kubernetes API (a local endpoint serving a recorded
pod list and watch stream) or the kubelet's /var/log/pods layout, through --host-root."""
import http.server, json, os, shutil, subprocess, threading, time, urllib.parse

import vigiltest
from vigiltest import on_cleanup, tmpdir

FIXTURES = os.path.join(vigiltest.ROOT, "tests", "fixtures", "k8s")


def cgroup2_mount():
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    raise AssertionError("no cgroup2 mount on this machine")


def host_root():
    """A directory laid out like the DaemonSet's /host: /proc and the cgroup2 mount bound
    in (unmounted at cleanup); var/log/pods left for the test to fill."""
    root = tmpdir("vigil-hostroot-")
    for src in ("/proc", cgroup2_mount()):
        dst = root + src
        os.makedirs(dst, exist_ok=True)
        subprocess.run(["mount", "--bind", src, dst], check=True)
        on_cleanup(lambda d=dst: subprocess.run(["umount", "-l", d], check=False))
    os.makedirs(os.path.join(root, "var/log/pods"))
    return root


def kubepods_cgroup(pod_uid, cid, qos="besteffort"):
    """Creates the systemd-driver containerd cgroup of a container; removed at cleanup."""
    base = cgroup2_mount()
    parts = ["kubepods.slice", f"kubepods-{qos}.slice",
             f"kubepods-{qos}-pod{pod_uid.replace('-', '_')}.slice", f"cri-containerd-{cid}.scope"]
    made = []
    path = base
    for p in parts:
        path = os.path.join(path, p)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)

    def undo():
        for d in reversed(made):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)   # processes still leaving
    on_cleanup(undo)
    return path


def pod_log_dir(root, ns, pod, uid, containers):
    """The kubelet's /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log layout."""
    d = os.path.join(root, "var/log/pods", f"{ns}_{pod}_{uid}")
    for c in containers:
        os.makedirs(os.path.join(d, c), exist_ok=True)
        with open(os.path.join(d, c, "0.log"), "w") as f:
            f.write('2026-12-05T09:00:00.000000000Z stdout F started\n')
    return d


def world_writable_prog():
    """A copy of /usr/bin/true in a fresh directory under /tmp (the default policy's
    exec_world_writable rule fires on it)."""
    d = tmpdir("vigil-k8s-exec-")
    prog = os.path.join(d, "payload")
    shutil.copy("/usr/bin/true", prog)
    os.chmod(prog, 0o755)
    return prog


def exec_in_cgroup(cg, argv):
    """Runs argv in cgroup cg: the child joins it before exec, as runc's init does."""
    def join():
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    p = subprocess.Popen(argv, preexec_fn=join)
    on_cleanup(lambda: p.poll() is None and p.kill())
    p.wait(timeout=30)
    return p


def set_env(**kv):
    """Sets environment variables vigild will inherit; restored at cleanup."""
    old = {k: os.environ.get(k) for k in kv}
    for k, v in kv.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v

    def undo():
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    on_cleanup(undo)


class FakeAPI:
    """A local Kubernetes API endpoint: GET /api/v1/pods serves the recorded pod list; with
    watch=1 it streams the recorded watch lines given so far and then whatever
    release() adds, until stopped.  status forces an error status (e.g. 403)."""

    def __init__(self, status=200):
        with open(os.path.join(FIXTURES, "podlist.json"), "rb") as f:
            self.podlist = f.read()
        with open(os.path.join(FIXTURES, "watch.jsonl"), "rb") as f:
            self.watch_lines = f.read().splitlines(keepends=True)
        self.released = 0
        self.status = status
        self.requests = []
        self.stop_ev = threading.Event()
        self.cv = threading.Condition()
        api = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                api.requests.append({"path": u.path, "query": q,
                                     "auth": self.headers.get("Authorization")})
                if api.status != 200:
                    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                       "reason": "Forbidden", "code": api.status,
                                       "message": 'pods is forbidden: User "system:serviceaccount:vigil:vigil" cannot list resource "pods"'}).encode()
                    self.send_response(api.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if u.path != "/api/v1/pods":
                    self.send_error(404)
                    return
                if q.get("watch") != ["1"]:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(api.podlist)))
                    self.end_headers()
                    self.wfile.write(api.podlist)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                try:
                    while not api.stop_ev.is_set():
                        with api.cv:
                            upto = api.released
                            if sent == upto:
                                api.cv.wait(0.2)
                                continue
                        for line in api.watch_lines[sent:upto]:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                        sent = upto
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        on_cleanup(self.close)

    def release(self, n):
        """Lets watchers receive the first n recorded watch lines."""
        with self.cv:
            self.released = n
            self.cv.notify_all()

    def close(self):
        self.stop_ev.set()
        self.httpd.shutdown()
        self.httpd.server_close()

from vigiltest import Daemon, check, policy, VIGILD  # noqa: E402

POD1_UID = "6f1c2b8e-3d4a-4b5c-9e7f-0a1b2c3d4e5f"     # in podlist.json (nginx)
POD1_CID = "8c3f1a9e5b7d4c2e6f0a1b3d5e7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f"
POD2_UID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"     # in watch.jsonl (added, then running)
POD2_CID = "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
LOG_UID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"      # only in a /var/log/pods fixture
LOG_CID = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"


def _alert_for(vd, pid, timeout=15):
    return vd.wait_alert(lambda a: a["rule"] == "exec_world_writable" and a["process"]["pid"] == pid,
                         timeout=timeout, what=f"exec_world_writable alert for pid {pid}")


def _expect_container(al, **want):
    c = al.get("container")
    check(isinstance(c, dict), "alert has a container object", "object", c)
    for k, v in want.items():
        check(c.get(k) == v, f"container.{k}", v, c.get(k))


def _daemon(root, **env):
    set_env(**env)
    return Daemon(policy(), args=["--host-root", root])


def test_pod_fields_from_pod_logs():
    """API off: a process in a kubepods cgroup gets pod, namespace and container name from
    the /var/log/pods fixture below --host-root; a plain host process gets no container."""
    root = host_root()
    pod_log_dir(root, "payments", "api-7f9c6b5d4-rt2xz", LOG_UID, ["api"])
    cg = kubepods_cgroup(LOG_UID, LOG_CID)
    prog = world_writable_prog()
    vd = _daemon(root, VIGIL_K8S_API="off", KUBERNETES_SERVICE_HOST=None)
    p = exec_in_cgroup(cg, [prog])
    al = _alert_for(vd, p.pid)
    _expect_container(al, id=LOG_CID, runtime="containerd", pod_uid=LOG_UID, pod="api-7f9c6b5d4-rt2xz",
                      namespace="payments", name="api")
    h = exec_in_cgroup(cgroup2_mount(), [prog])   # not in a pod
    al = _alert_for(vd, h.pid)
    check(al["container"] is None, "host process container", None, al["container"])
    st = vd.status()["kubernetes"]
    check(st["api"] == "off", "kubernetes.api", "off", st["api"])
    check(st["podlog_hits"] >= 1, "kubernetes.podlog_hits >= 1", ">= 1", st["podlog_hits"])


def test_pod_fields_completed_when_pod_appears_late():
    """A container that execs before its pod metadata exists: the alert is held, the lookup
    retried, and the alert written complete once the pod log directory appears."""
    root = host_root()
    cg = kubepods_cgroup(LOG_UID, LOG_CID)
    prog = world_writable_prog()
    vd = _daemon(root, VIGIL_K8S_API="off", KUBERNETES_SERVICE_HOST=None)
    p = exec_in_cgroup(cg, [prog])
    time.sleep(1.5)
    pending = [a for a in vd.alerts() if (a.get("process") or {}).get("pid") == p.pid]
    check(not pending, "alert held while the pod is unknown", [], pending)
    pod_log_dir(root, "payments", "api-7f9c6b5d4-rt2xz", LOG_UID, ["api"])
    al = _alert_for(vd, p.pid)
    _expect_container(al, id=LOG_CID, pod_uid=LOG_UID, pod="api-7f9c6b5d4-rt2xz", namespace="payments",
                      name="api")
    st = vd.status()["kubernetes"]["alerts"]
    check(st["deferred"] >= 1 and st["completed"] >= 1, "kubernetes.alerts deferred/completed",
          ">= 1 each", st)


def test_pod_fields_from_api_list_and_watch():
    """The API path: the recorded pod list names pod 1's containers; pod 2 arrives by watch
    without a container id, the exec happens, then the watch reports the running
    container and the held alert is completed with its name and image.  Malformed pod
    objects (one in the list, one watch line) are ignored and counted."""
    root = host_root()
    api = FakeAPI()
    api.release(3)          # ADDED pod 2 (waiting), a truncated line, a BOOKMARK
    tok = os.path.join(tmpdir(), "token")
    with open(tok, "w") as f:
        f.write("test-token-123\n")
    cg1 = kubepods_cgroup(POD1_UID, POD1_CID)
    cg2 = kubepods_cgroup(POD2_UID, POD2_CID)
    prog = world_writable_prog()
    vd = _daemon(root, VIGIL_K8S_API=api.url, NODE_NAME="node-a", VIGIL_K8S_TOKEN_FILE=tok,
                 KUBERNETES_SERVICE_HOST=None)
    deadline = time.time() + 10
    while time.time() < deadline:
        st = vd.status()["kubernetes"]
        if st["api"] == "ok" and st["watch_events"] >= 2:
            break
        time.sleep(0.1)
    check(st["api"] == "ok" and st["watch_events"] >= 2, "API listed and watching", "ok, >= 2 events", st)
    lists = [r for r in api.requests if r["query"].get("watch") != ["1"]]
    check(lists and lists[0]["query"].get("fieldSelector") == ["spec.nodeName=node-a"],
          "list field selector", ["spec.nodeName=node-a"], lists[0]["query"] if lists else None)
    check(lists[0]["auth"] == "Bearer test-token-123", "Authorization header", "Bearer test-token-123",
          lists[0]["auth"])
    watches = [r for r in api.requests if r["query"].get("watch") == ["1"]]
    check(watches and watches[0]["query"].get("resourceVersion") == ["482913"],
          "watch starts at the list's resourceVersion", ["482913"],
          watches[0]["query"].get("resourceVersion") if watches else None)

    p1 = exec_in_cgroup(cg1, [prog])
    al = _alert_for(vd, p1.pid)
    _expect_container(al, id=POD1_CID, pod_uid=POD1_UID, pod="web-6d8f7c9b5-x2kqp", namespace="shop",
                      name="nginx", image="docker.io/library/nginx:1.25.3")

    p2 = exec_in_cgroup(cg2, [prog])
    time.sleep(1.0)
    early = [a for a in vd.alerts() if (a.get("process") or {}).get("pid") == p2.pid]
    check(not early, "alert held until the container is known", [], early)
    api.release(4)          # MODIFIED: worker running with its container id
    al = _alert_for(vd, p2.pid)
    _expect_container(al, id=POD2_CID, pod_uid=POD2_UID, pod="batch-28391160-qk7cd", namespace="jobs",
                      name="worker", image="ghcr.io/example/worker:2.4.1")
    st = vd.status()["kubernetes"]
    check(st["malformed"] == 2, "kubernetes.malformed (1 list item + 1 watch line)", 2, st["malformed"])
    check(st["pods"] == 3, "kubernetes.pods cached", 3, st["pods"])


def test_api_forbidden_falls_back_and_warns_once():
    """403 from the API: vigild warns once (not on every retry), reports "forbidden" in
    status and takes pod metadata from /var/log/pods."""
    root = host_root()
    api = FakeAPI(status=403)
    pod_log_dir(root, "payments", "api-7f9c6b5d4-rt2xz", LOG_UID, ["api"])
    cg = kubepods_cgroup(LOG_UID, LOG_CID)
    prog = world_writable_prog()
    vd = _daemon(root, VIGIL_K8S_API=api.url, NODE_NAME="node-a", KUBERNETES_SERVICE_HOST=None)
    p = exec_in_cgroup(cg, [prog])
    al = _alert_for(vd, p.pid)
    _expect_container(al, pod="api-7f9c6b5d4-rt2xz", namespace="payments", name="api", pod_uid=LOG_UID)
    deadline = time.time() + 10
    while len(api.requests) < 3 and time.time() < deadline:
        time.sleep(0.2)
    check(len(api.requests) >= 3, "vigild retried the API", ">= 3 requests", len(api.requests))
    time.sleep(0.5)
    warns = [l for l in vd.stderr().splitlines() if "kubernetes API forbidden" in l]
    check(len(warns) == 1, "one warning for a forbidden API", 1, warns)
    st = vd.status()["kubernetes"]
    check(st["api"] == "forbidden" and st["http_status"] == 403, "kubernetes api/http_status",
          ("forbidden", 403), (st["api"], st["http_status"]))


def test_api_unreachable_warns_once():
    """Nothing listens at the API address: one warning, state "unreachable", vigild runs."""
    root = host_root()
    api = FakeAPI()
    url = api.url
    api.close()             # the port is now closed
    vd = _daemon(root, VIGIL_K8S_API=url, NODE_NAME="node-a", KUBERNETES_SERVICE_HOST=None)
    time.sleep(4)
    warns = [l for l in vd.stderr().splitlines() if "kubernetes API unreachable" in l]
    check(len(warns) == 1, "one warning for an unreachable API", 1, warns)
    st = vd.status()["kubernetes"]
    check(st["api"] == "unreachable" and st["api_errors"] >= 2, "kubernetes api/api_errors",
          ("unreachable", ">= 2"), (st["api"], st["api_errors"]))


def test_host_root_not_a_directory():
    """--host-root naming a file or nothing: exit 2 with a one-line reason, before anything loads."""
    f = os.path.join(tmpdir(), "plain-file")
    open(f, "w").close()
    for bad, why in ((f, "is not a directory"), (f + "-missing", "No such file or directory")):
        r = subprocess.run([VIGILD, "--host-root", bad], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2, f"exit status for --host-root {bad}", 2, r.returncode)
        check(why in r.stderr and bad in r.stderr, "error names the host root and the reason",
              why, r.stderr.strip())
