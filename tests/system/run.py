#!/usr/bin/env python3
"""System test runner: imports tests/system/test_*.py and runs every test_* function.

Each test runs with a time bound; a test that raises fails with its message.
System tests need root (they load real BPF programs): without root each one
fails with "needs root" rather than skipping, so no silence hides a gap.
Prints "system: N passed, N failed" last.
"""
import argparse, importlib.util, os, sys, time, traceback, signal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vigiltest  # noqa: E402


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("test exceeded its time bound")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    passed = failed = 0
    files = sorted(f for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    signal.signal(signal.SIGALRM, _alarm)
    for f in files:
        spec = importlib.util.spec_from_file_location(f[:-3], os.path.join(HERE, f))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            print(f"FAIL {f}: cannot import\n{traceback.format_exc()}")
            failed += 1
            continue
        tests = [(n, getattr(mod, n)) for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        for name, fn in tests:
            full = f"{f[:-3]}.{name}"
            if args.filter and args.filter not in full:
                continue
            if os.geteuid() != 0:
                print(f"FAIL {full}: needs root (system tests load BPF programs)")
                failed += 1
                continue
            t0 = time.time()
            signal.alarm(getattr(fn, "timeout", 120))
            try:
                fn()
                signal.alarm(0)
                print(f"ok   {full} ({time.time() - t0:.1f}s)", flush=True)
                passed += 1
            except Exception as e:
                signal.alarm(0)
                print(f"FAIL {full}: {e}", flush=True)
                if not isinstance(e, (AssertionError, Timeout)):
                    traceback.print_exc()
                failed += 1
            finally:
                signal.alarm(0)
                vigiltest.cleanup_all()
    if args.filter and passed + failed == 0:
        print(f"FAIL no system test matches {args.filter!r}")
        failed += 1
    print(f"system: {passed} passed, {failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
