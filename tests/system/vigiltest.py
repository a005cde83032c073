"""Helpers for vigil system tests: start a real vigild on a test policy with a
temporary log/state/run dir, wait for records, clean up in every path.

Usage:
    from vigiltest import Daemon, policy, check, run
    def test_something():
        with Daemon(policy(file={"watch": [d]})) as vd:
            p = run(["/bin/true"])
            ev = vd.wait_event(lambda e: e["type"] == "exec" and e["process"]["pid"] == p.pid)
            check(ev["process"]["exe"] == "/usr/bin/true", "exe", "/usr/bin/true", ev["process"]["exe"])
"""
import copy, json, os, signal, shutil, subprocess, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("VIGIL_BUILD", "build"))
VIGILD = os.path.join(BUILD, "vigild")
VIGIL = os.path.join(BUILD, "vigil")
HELPERS = os.path.join(BUILD, "tests", "helpers")
DEFAULT_POLICY = os.path.join(ROOT, "policies", "default.json")

_cleanups = []


def on_cleanup(fn):
    """Registers fn to run after the current test, pass or fail (LIFO)."""
    _cleanups.append(fn)
    return fn


def cleanup_all():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            print(f"  cleanup error: {e}")


def check(cond, what, expected=None, seen=None):
    """Assertion that says what was expected and what was seen."""
    if not cond:
        if expected is None and seen is None:
            raise AssertionError(what)
        raise AssertionError(f"{what}: expected {expected!r}, seen {seen!r}")


def _merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            _merge(a[k], v)
        else:
            a[k] = v
    return a


def policy(**overrides):
    """The shipped default policy with sections deep-merged from overrides."""
    with open(DEFAULT_POLICY) as f:
        p = json.load(f)
    # the shipped policy's fanotify write denial targets the real installed paths: tests never
    # place permission marks there (test_faults.py turns it on for files of its own tmpfs)
    p.get("self_protection", {})["deny_writes"] = False
    return _merge(copy.deepcopy(p), overrides)


def tmpdir(prefix="vigiltest-"):
    d = tempfile.mkdtemp(prefix=prefix)
    on_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def mount_tmpfs(size="64m"):
    """A tmpfs mounted for this test (unmounted at cleanup)."""
    d = tempfile.mkdtemp(prefix="vigiltest-mnt-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "vigiltest", d], check=True)

    def undo():
        subprocess.run(["umount", "-l", d], check=False)
        os.rmdir(d)
    on_cleanup(undo)
    return d


def run(argv, **kw):
    """Runs argv to completion (bounded); returns the CompletedProcess with .pid set."""
    p = subprocess.Popen(argv, **kw)
    on_cleanup(lambda: p.poll() is None and p.kill())
    p.wait(timeout=kw.pop("timeout", 30) if "timeout" in kw else 30)
    return p


def helper(name):
    return os.path.join(HELPERS, name)


class Daemon:
    """A vigild on `pol` (dict or path) with private dirs; stops at cleanup."""

    def __init__(self, pol=None, args=(), start=True, ready_timeout=30):
        self.dir = tmpdir("vigild-")
        self.log_dir = os.path.join(self.dir, "log")
        self.state_dir = os.path.join(self.dir, "lib")
        self.run_dir = os.path.join(self.dir, "run")
        if pol is None:
            pol = policy()
        if isinstance(pol, dict):
            self.policy_path = os.path.join(self.dir, "policy.json")
            with open(self.policy_path, "w") as f:
                json.dump(pol, f, indent=1)
        else:
            self.policy_path = pol
        self.args = list(args)
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self._offsets = {}
        if start:
            self.start(ready_timeout)

    @property
    def socket(self):
        return os.path.join(self.run_dir, "vigild.sock")

    def cmdline(self):
        return [VIGILD, "--policy", self.policy_path, "--log-dir", self.log_dir,
                "--state-dir", self.state_dir, "--run-dir", self.run_dir] + self.args

    def start(self, ready_timeout=30):
        # a restart appends to the same stderr file: wait for one more "ready" than it holds
        seen = self.stderr().count("vigild: ready")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.cmdline(), stdout=self._err, stderr=self._err)
        on_cleanup(self.stop)
        deadline = time.time() + ready_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"vigild exited with {self.proc.returncode}: {self.stderr()}")
            if self.stderr().count("vigild: ready") > seen:
                return self
            time.sleep(0.05)
        raise AssertionError(f"vigild not ready after {ready_timeout}s: {self.stderr()}")

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def vigil(self, *args, input=None, timeout=30):
        """Runs the CLI against this daemon; returns CompletedProcess (text)."""
        env = dict(os.environ, VIGIL_SOCKET=self.socket, VIGIL_LOG_DIR=self.log_dir)
        return subprocess.run([VIGIL] + list(args), capture_output=True, text=True,
                              env=env, input=input, timeout=timeout)

    def status(self):
        r = self.vigil("status", "--json")
        check(r.returncode == 0, "vigil status --json exit", 0, (r.returncode, r.stderr))
        return json.loads(r.stdout)

    def records(self, name="events.jsonl"):
        """Every record in log_dir/name (rotated files not included)."""
        out = []
        try:
            with open(os.path.join(self.log_dir, name), "rb") as f:
                for line in f:
                    out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def events(self):
        return self.records("events.jsonl")

    def alerts(self):
        return self.records("alerts.jsonl")

    def wait_record(self, name, pred, timeout=10, what="record"):
        deadline = time.time() + timeout
        while True:
            for r in self.records(name):
                try:
                    if pred(r):
                        return r
                except (KeyError, TypeError, IndexError):
                    pass
            if time.time() > deadline:
                raise AssertionError(f"no matching {what} in {name} within {timeout}s")
            time.sleep(0.1)

    def wait_event(self, pred, timeout=10, what="event"):
        return self.wait_record("events.jsonl", pred, timeout, what)

    def wait_alert(self, pred, timeout=10, what="alert"):
        return self.wait_record("alerts.jsonl", pred, timeout, what)

    def settle(self, seconds=1.0):
        """Gives the daemon time to drain its ringbufs (it polls at least every 200 ms)."""
        time.sleep(seconds)
