"""Deployment: `make install`/`make uninstall` into a DESTDIR (tree, units, policy never
overwritten, the installed vigild runs and reloads), and the container recipe and
Kubernetes manifests (parse as YAML, name only images the recipe builds, mount every
host path the agent reports with --print-host-paths)."""
import copy, json, os, re, shlex, signal, stat, subprocess, time

import yaml

import vigiltest
from vigiltest import ROOT, VIGILD, VIGIL, check, on_cleanup, tmpdir

DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
PREFIX = "/usr/local"


def _version():
    with open(os.path.join(ROOT, "userspace/lib/util.h")) as f:
        return re.search(r'#define VIGIL_VERSION "([^"]+)"', f.read()).group(1)


def _make(*args, timeout=300):
    # -o: install what `make all` built; never rebuild inside a test
    olds = []
    for b in ("vigild", "vigil", "vigil-scored"):
        olds += ["-o", f"build/{b}"]
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT] + olds + list(args),
                       capture_output=True, text=True, timeout=timeout)
    check(r.returncode == 0, f"make {' '.join(args)} exit status", 0, (r.returncode, r.stderr[-2000:]))
    return r


def _unit(path):
    """systemd unit as {section: {key: [values]}}."""
    out, sec = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sec = out.setdefault(line.strip("[]"), {})
                continue
            k, _, v = line.partition("=")
            sec.setdefault(k, []).append(v)
    return out


def test_make_install_uninstall_destdir():
    dest = tmpdir("vigil-destdir-")
    _make("install", f"DESTDIR={dest}", f"PREFIX={PREFIX}")
    sbin, bin_, units = dest + PREFIX + "/sbin", dest + PREFIX + "/bin", dest + PREFIX + "/lib/systemd/system"
    for exe in (sbin + "/vigild", bin_ + "/vigil"):
        st = os.stat(exe)
        check(stat.S_ISREG(st.st_mode) and st.st_mode & 0o111, f"{exe} installed executable", True, oct(st.st_mode))
    for doc in ("vigild.txt", "vigil.txt"):
        with open(dest + PREFIX + "/share/doc/vigil/" + doc) as f:
            check(f.read().startswith("Usage:"), f"{doc} is the --help text", "Usage: ...", None)
    with open(os.path.join(ROOT, "policies/default.json"), "rb") as a, open(dest + "/etc/vigil/policy.json", "rb") as b:
        check(a.read() == b.read(), "/etc/vigil/policy.json is the default policy", True, False)
    for d in ("/var/lib/vigil", "/var/log/vigil"):
        mode = stat.S_IMODE(os.stat(dest + d).st_mode)
        check(mode == 0o750, f"{d} mode", "0o750", oct(mode))

    # units: paths filled in, restart, reload by SIGHUP, least capabilities, hardening
    u = _unit(units + "/vigild.service")
    svc = u["Service"]
    check(svc["ExecStart"][0].split()[0] == PREFIX + "/sbin/vigild", "vigild ExecStart", PREFIX + "/sbin/vigild",
          svc["ExecStart"])
    check(svc["ExecReload"] == ["/bin/kill -HUP $MAINPID"], "ExecReload sends SIGHUP", ["/bin/kill -HUP $MAINPID"],
          svc["ExecReload"])
    check(svc["Restart"] == ["on-failure"], "Restart", ["on-failure"], svc["Restart"])
    caps = set(svc["CapabilityBoundingSet"][0].split())
    check({"CAP_BPF", "CAP_PERFMON"} <= caps and "CAP_SETUID" not in caps and "CAP_SYS_MODULE" not in caps,
          "vigild capability bounding set", "CAP_BPF, CAP_PERFMON, no CAP_SETUID/CAP_SYS_MODULE", caps)
    check(svc.get("ProtectSystem") == ["strict"] and "/sys/fs/bpf" in svc.get("ReadWritePaths", [""])[0],
          "read-only system except bpffs", ("strict", "/sys/fs/bpf"), (svc.get("ProtectSystem"), svc.get("ReadWritePaths")))
    for breaks_bpf in ("PrivateTmp", "ProtectKernelTunables"):
        check(svc.get(breaks_bpf, ["no"]) == ["no"], f"{breaks_bpf} not set (breaks host paths/bpffs)", "unset",
              svc.get(breaks_bpf))
    with open(units + "/vigild.service") as f:
        txt = f.read()
    check("@" not in txt.replace("@system-service", ""), "no template placeholder left", "none", re.findall(r"@\w+@", txt))
    # systemd parses every directive (ExecStart pointed at the DESTDIR binary)
    chk = tmpdir("vigil-unitcheck-")
    with open(chk + "/vigild.service", "w") as f:
        f.write(txt.replace(PREFIX + "/sbin/", sbin + "/"))
    with open(os.path.join(DEPLOY, "systemd/vigil-scored.service.in")) as f:
        sc = f.read().replace("@SBINDIR@/vigil-scored", sbin + "/vigild").replace("@DOCDIR@", "/nonexistent")
    check("DynamicUser=yes" in sc and re.search(r"^CapabilityBoundingSet=$", sc, re.M),
          "vigil-scored runs unprivileged", "DynamicUser=yes, no capabilities", None)
    with open(chk + "/vigil-scored.service", "w") as f:
        f.write(sc)
    r = subprocess.run(["systemd-analyze", "verify", chk + "/vigild.service", chk + "/vigil-scored.service"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(), "systemd-analyze verify", "clean", (r.returncode, r.stderr))

    # the installed vigild runs, answers `vigil status`, reloads on SIGHUP, stops cleanly
    run = tmpdir("vigil-destdir-run-")
    errp = os.path.join(run, "stderr")
    with open(errp, "wb") as ef:
        p = subprocess.Popen([sbin + "/vigild", "--policy", dest + "/etc/vigil/policy.json",
                              "--log-dir", dest + "/var/log/vigil", "--state-dir", dest + "/var/lib/vigil",
                              "--run-dir", run], stdout=ef, stderr=ef)
    on_cleanup(lambda: p.poll() is None and p.kill())

    def err():
        with open(errp, errors="replace") as f:
            return f.read()
    deadline = time.time() + 60
    while "vigild: ready" not in err() and p.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    check("vigild: ready" in err(), "installed vigild ready", "vigild: ready", err()[-2000:])
    env = dict(os.environ, VIGIL_SOCKET=os.path.join(run, "vigild.sock"))
    r = subprocess.run([bin_ + "/vigil", "status", "--json"], capture_output=True, text=True, env=env, timeout=30)
    check(r.returncode == 0 and json.loads(r.stdout).get("pid") == p.pid, "installed vigil status answers",
          p.pid, (r.returncode, r.stdout[:200], r.stderr))
    p.send_signal(signal.SIGHUP)
    deadline = time.time() + 60     # engines re-apply the policy (file integrity may rescan)
    while "policy reloaded" not in err() and "not reloaded" not in err() and time.time() < deadline:
        time.sleep(0.1)
    check("policy reloaded" in err(), "SIGHUP reloads the policy", "policy reloaded", err()[-1000:])
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    check(rc == 0, "installed vigild exit status after SIGTERM", 0, rc)

    # a changed policy survives a second install; the shipped one lands beside it
    with open(dest + "/etc/vigil/policy.json", "a") as f:
        f.write("\n")
    _make("install", f"DESTDIR={dest}", f"PREFIX={PREFIX}")
    with open(dest + "/etc/vigil/policy.json") as f:
        check(f.read().endswith("}\n\n"), "changed policy kept by install", "operator's file", None)
    check(os.path.exists(dest + "/etc/vigil/policy.json.dist"), "policy.json.dist beside it", True, False)

    # uninstall: removes what install added, keeps the changed policy, unpins vigil's BPF objects
    bpffs = tmpdir("vigil-bpffs-")
    subprocess.run(["mount", "-t", "bpf", "vigiltest", bpffs], check=True)
    on_cleanup(lambda: subprocess.run(["umount", "-l", bpffs], check=False))
    os.makedirs(bpffs + "/vigil")
    subprocess.run(["bpftool", "map", "create", bpffs + "/vigil/vigil_test", "type", "hash", "key", "4",
                    "value", "4", "entries", "1", "name", "vigil_test"], check=True, timeout=30)
    check(os.path.exists(bpffs + "/vigil/vigil_test"), "test pin exists", True, False)
    _make("uninstall", f"DESTDIR={dest}", f"PREFIX={PREFIX}", f"BPF_PIN_DIR={bpffs}/vigil")
    left = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)
    # what stays: the operator's policy and the data vigild wrote (alerts, state), as a
    # package "remove" keeps them; every file install put there is gone
    stray = [f for f in left if f != "etc/vigil/policy.json" and not f.startswith(("var/lib/vigil/", "var/log/vigil/"))]
    check(not stray and "etc/vigil/policy.json" in left, "files left after uninstall",
          "etc/vigil/policy.json and vigild's data", left)
    check(not os.path.exists(dest + PREFIX + "/sbin/vigild") and not os.path.exists(units + "/vigild.service"),
          "binary and unit removed", False, True)
    check(not os.path.exists(bpffs + "/vigil"), "pinned objects removed", False, os.listdir(bpffs))


# ---------- container recipe and manifests ----------

def _docs():
    out = {}
    for fn in sorted(os.listdir(K8S)):
        if fn.endswith(".yaml"):
            with open(os.path.join(K8S, fn)) as f:
                out[fn] = [d for d in yaml.safe_load_all(f) if d is not None]
    return out


def _objects():
    kust = _docs()["kustomization.yaml"][0]
    objs = []
    for res in kust["resources"]:
        with open(os.path.join(K8S, res)) as f:
            objs += [d for d in yaml.safe_load_all(f) if d is not None]
    return objs


def _find(objs, kind, name):
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"no {kind}/{name} in the manifests")


def _pod_specs(objs):
    for o in objs:
        if o["kind"] in ("DaemonSet", "Deployment", "StatefulSet", "Job"):
            yield o, o["spec"]["template"]["spec"]


def _dockerfile():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        lines = f.read().replace("\\\n", " ").splitlines()
    return [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]


def test_dockerfile_references_exist():
    lines = _dockerfile()
    stages, copies, makes = [], [], []
    for l in lines:
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", l, re.I)
        if m:
            stages.append((m.group(1), m.group(2)))
        if l.upper().startswith("COPY") and "--from=" not in l:
            copies += shlex.split(l)[1:-1]
        for m in re.finditer(r"make\s+([^&;|]*)", l):
            makes += [t for t in m.group(1).split() if t.startswith("build/")]
        for m in re.finditer(r"--from=(\S+)", l):
            check(m.group(1) in [s[1] for s in stages], f"COPY --from={m.group(1)} names an earlier stage",
                  [s[1] for s in stages], m.group(1))
    names = [s[1] for s in stages]
    for t in ("build", "vigild", "vigil-scored"):
        check(t in names, f"Dockerfile stage {t}", t, names)
    runtime = [s for s in stages if s[1] in ("vigild", "vigil-scored", "runtime-base")]
    check(all(s[0].startswith("debian:") or s[0] == "runtime-base" for s in runtime),
          "runtime stages are Debian-based", "debian:*", runtime)
    for src in copies:
        check(os.path.exists(os.path.join(ROOT, src)), f"COPY source {src} exists in the repository", True, False)
    check(makes, "the recipe builds with make targets", "build/...", makes)
    for t in makes:
        r = subprocess.run(["make", "-C", ROOT, "-n", t], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"make target {t} exists", 0, r.stderr[-500:])
    scored = lines[[i for i, l in enumerate(lines) if re.match(r"FROM .* AS vigil-scored$", l)][0]:]
    users = [l.split()[1] for l in scored if l.startswith("USER")]
    check(users and not users[-1].startswith(("0", "root")), "vigil-scored runs as a non-root user", "uid != 0", users)


def _runtime_packages():
    """The packages the runtime-base stage installs with apt-get."""
    lines = _dockerfile()
    start = [i for i, l in enumerate(lines) if re.match(r"FROM .* AS runtime-base$", l)][0]
    for l in lines[start + 1:]:
        if l.startswith("FROM"):
            break
        m = re.search(r"apt-get install\s+(.*?)(?:&&|$)", l)
        if m:
            return {t for t in m.group(1).split() if not t.startswith("-")}
    return set()


def _depends_closure(pkgs):
    """pkgs and everything they depend on (Depends, Pre-Depends), from this machine's dpkg database."""
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", p],
                           capture_output=True, text=True, timeout=30)
        for alt in r.stdout.split(","):
            for dep in alt.split("|"):
                name = dep.strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
    return seen


def test_runtime_image_has_every_library():
    """Without a Docker engine the images cannot be built here, so check what would break them
    at start: every shared library the shipped binaries link must come from a package the
    runtime stage installs (or its dependencies); libc6 is in the slim base."""
    pkgs = _runtime_packages()
    check(pkgs, "runtime-base installs packages", "a package list", pkgs)
    have = _depends_closure(pkgs | {"libc6"})
    for b in ("vigild", "vigil", "vigil-scored"):
        path = os.path.join(ROOT, "build", b)
        needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run(["objdump", "-p", path], capture_output=True,
                                                             text=True, timeout=30).stdout)
        check(needed, f"{b} links shared libraries", "NEEDED entries", needed)
        where = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", path], capture_output=True,
                                                                        text=True, timeout=30).stdout, re.M))
        for so in needed:
            lib = where.get(so)
            check(lib and os.path.exists(lib), f"{b}: {so} resolves", "a path", lib)
            owner = None
            for cand in (lib, os.path.realpath(lib), "/usr" + lib if lib.startswith("/lib") else lib):
                r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True, timeout=30)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0].strip()
                    break
            check(owner, f"{b}: a package owns {lib}", "a package", owner)
            check(owner in have, f"{b}: {so} ({owner}) is installed in the runtime image",
                  sorted(pkgs), owner)


def test_manifests_parse_and_name_built_images():
    docs = _docs()
    kust = docs["kustomization.yaml"][0]
    check(set(kust["resources"]) == set(docs) - {"kustomization.yaml"}, "kustomization lists every manifest",
          sorted(set(docs) - {"kustomization.yaml"}), sorted(kust["resources"]))
    objs = _objects()
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for want in [("Namespace", "vigil"), ("ServiceAccount", "vigil-agent"), ("ClusterRole", "vigil-agent"),
                 ("ClusterRoleBinding", "vigil-agent"), ("ConfigMap", "vigil-policy"), ("DaemonSet", "vigild"),
                 ("Deployment", "vigil-scored"), ("Service", "vigil-scored"),
                 ("PersistentVolumeClaim", "vigil-scored-data"), ("Secret", "vigil-scored-tokens")]:
        check(want in kinds, f"manifest {want[0]}/{want[1]}", want, sorted(kinds))
    stages = [re.match(r"FROM\s+\S+\s+AS\s+(\S+)", l, re.I).group(1) for l in _dockerfile()
              if re.match(r"FROM\s+\S+\s+AS\s+", l, re.I)]
    ver = _version()
    images = [c["image"] for _, spec in _pod_specs(objs) for c in spec.get("containers", []) + spec.get("initContainers", [])]
    check(len(images) >= 2, "images named", ">= 2", images)
    for img in images:
        repo, _, tag = img.rpartition(":")
        check(repo.rsplit("/", 1)[-1] in stages and repo.rsplit("/", 1)[-1] != "build",
              f"image {img} is a stage the recipe builds", stages, img)
        check(tag == ver, f"image {img} tag is the version", ver, tag)
    for i in kust.get("images", []):
        check(i["name"] in [im.rpartition(":")[0] for im in images], "kustomization image names a used image",
              images, i["name"])
    # RBAC: read pods, nothing more, bound to the DaemonSet's service account
    role = _find(objs, "ClusterRole", "vigil-agent")
    check(role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
          "agent ClusterRole", "pods get/list/watch", role["rules"])
    ds = _find(objs, "DaemonSet", "vigild")
    binding = _find(objs, "ClusterRoleBinding", "vigil-agent")
    check(binding["subjects"][0]["name"] == ds["spec"]["template"]["spec"]["serviceAccountName"],
          "binding names the DaemonSet's service account", ds["spec"]["template"]["spec"]["serviceAccountName"],
          binding["subjects"])
    # the ConfigMap holds a policy the agent's own parser accepts
    pol = tmpdir() + "/policy.json"
    with open(pol, "w") as f:
        f.write(_find(objs, "ConfigMap", "vigil-policy")["data"]["policy.json"])
    r = subprocess.run([VIGIL, "policy", "check", pol], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "ConfigMap policy passes vigil policy check", 0, r.stderr)
    # scoring service: non-root, state on the claim, tokens from the Secret
    sc = _find(objs, "Deployment", "vigil-scored")["spec"]["template"]["spec"]
    check(sc["securityContext"].get("runAsNonRoot") is True, "vigil-scored runAsNonRoot", True, sc["securityContext"])
    vols = {v["name"]: v for v in sc["volumes"]}
    check(any("persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] == "vigil-scored-data"
              for v in vols.values()), "vigil-scored mounts its PVC", "vigil-scored-data", vols)
    check(any("secret" in v and v["secret"]["secretName"] == "vigil-scored-tokens" for v in vols.values()),
          "vigil-scored mounts the token Secret", "vigil-scored-tokens", vols)


def _uncovered(ds, paths):
    """Host paths (from --print-host-paths) the DaemonSet does not mount where vigild opens them."""
    spec = ds["spec"]["template"]["spec"]
    c = [c for c in spec["containers"] if c["name"] == "vigild"][0]
    vols = {v["name"]: v for v in spec["volumes"]}
    missing = []
    for e in paths:
        best = None
        for m in c.get("volumeMounts", []):
            mp = m["mountPath"].rstrip("/") or "/"
            if e["path"] == mp or e["path"].startswith(mp + "/") or mp == "/":
                if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                    best = m
        if best is None:
            missing.append((e["path"], "no mount"))
            continue
        v = vols.get(best["name"], {})
        hp = v.get("hostPath", {}).get("path")
        rest = e["path"][len(best["mountPath"].rstrip("/")):]
        if hp is None or os.path.normpath(hp + rest) != os.path.normpath(e["host"]):
            missing.append((e["path"], f"volume {best['name']} maps to {hp}{rest}, not {e['host']}"))
        elif e["access"] == "rw" and best.get("readOnly"):
            missing.append((e["path"], "mounted read-only, vigild writes it"))
        elif e["propagation"] == "bidirectional" and best.get("mountPropagation") != "Bidirectional":
            missing.append((e["path"], "needs mountPropagation: Bidirectional"))
    return missing


def test_daemonset_mounts_every_host_path():
    objs = _objects()
    ds = _find(objs, "DaemonSet", "vigild")
    spec = ds["spec"]["template"]["spec"]
    c = [c for c in spec["containers"] if c["name"] == "vigild"][0]
    args = c.get("args", [])
    check("--host-root" in args, "vigild told where the host's / is", "--host-root", args)
    # the agent's own list, for the DaemonSet's own arguments
    r = subprocess.run([VIGILD] + args + ["--print-host-paths"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "vigild --print-host-paths exit status", 0, (r.returncode, r.stderr))
    paths = json.loads(r.stdout)
    hosts = {e["host"] for e in paths}
    for need in ("/proc", "/sys/fs/bpf", "/sys/kernel/btf", "/var/log/pods", "/var/log/vigil", "/var/lib/vigil"):
        check(need in hosts, f"agent lists host path {need}", need, sorted(hosts))
    missing = _uncovered(ds, paths)
    check(not missing, "host paths the DaemonSet does not mount", [], missing)
    # the check itself catches a dropped mount
    broken = copy.deepcopy(ds)
    bc = broken["spec"]["template"]["spec"]["containers"][0]
    bc["volumeMounts"] = [m for m in bc["volumeMounts"] if m["mountPath"] != "/sys/fs/bpf"]
    check(_uncovered(broken, paths), "a DaemonSet without the bpffs mount is caught", "missing paths", [])
    # privileged on the host, every node, bounded resources, health from `vigil status`
    check(spec.get("hostPID") is True and spec.get("hostNetwork") is True, "hostPID and hostNetwork", True,
          (spec.get("hostPID"), spec.get("hostNetwork")))
    check(c["securityContext"].get("privileged") is True, "privileged", True, c["securityContext"])
    check({"operator": "Exists"} in spec.get("tolerations", []), "tolerates every taint", {"operator": "Exists"},
          spec.get("tolerations"))
    for k in ("requests", "limits"):
        check({"cpu", "memory"} <= set(c["resources"].get(k, {})), f"resources.{k}", "cpu and memory",
              c["resources"].get(k))
    for probe in ("livenessProbe", "readinessProbe"):
        cmd = c.get(probe, {}).get("exec", {}).get("command", [])
        check(cmd[:1] and os.path.basename(cmd[0]) == "vigil" and cmd[1:2] == ["status"], f"{probe} runs vigil status",
              ["vigil", "status"], cmd)
    env = {e["name"]: e for e in c.get("env", [])}
    check(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
          "NODE_NAME from the downward API", "spec.nodeName", env.get("NODE_NAME"))
    # --policy points into the ConfigMap mount
    pol = args[args.index("--policy") + 1]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    d = os.path.dirname(pol)
    check(d in mounts and vols[mounts[d]].get("configMap", {}).get("name") == "vigil-policy",
          "--policy is read from the vigil-policy ConfigMap", "vigil-policy", (pol, mounts.get(d)))
