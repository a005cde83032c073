#!/usr/bin/env bash
# The whole suite: unit tests (cmocka binaries, no root) then system tests (root: real BPF).
# Usage: tests/run.sh [--unit|--system] [NAME_FILTER]
# Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
mode=all
case "${1:-}" in
  --unit) mode=unit; shift;;
  --system) mode=system; shift;;
  -h|--help)
    echo "Usage: tests/run.sh [--unit|--system] [FILTER]"
    echo "  Runs the unit tests (build/tests/test_*, cmocka) and the system tests"
    echo "  (tests/system/test_*.py, root). FILTER keeps the tests whose name contains it"
    echo "  (e.g. test_process, or test_process.test_orphan); a filter that matches no"
    echo "  test is a failure. Ends with \"N passed, N failed\"."
    exit 0;;
esac
filter="${1:-}"
build="${VIGIL_BUILD:-build}"   # the Makefile passes its OUT (e.g. build-san for sanitizer builds)
passed=0; failed=0
out=$(mktemp); trap 'rm -f "$out"' EXIT

if [ "$mode" != system ]; then
  for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
    timeout 300 "$t" >"$out" 2>&1; rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then echo "FAIL $name"; grep -E '^\[  (ERROR|FAILED) |error|Error' "$out" | head -20
    else echo "ok   $name ($p)"; fi
  done
fi

if [ "$mode" != unit ]; then
  sys_out=$(mktemp)
  python3 tests/system/run.py ${filter:+--filter "$filter"} | tee "$sys_out"
  p=$(sed -n 's/^system: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$sys_out" | tail -1)
  f=$(sed -n 's/^system: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$sys_out" | tail -1)
  rm -f "$sys_out"
  if [ -z "$p" ]; then p=0; f=$((${f:-0} + 1)); echo "FAIL system test runner crashed"; fi
  passed=$((passed + p)); failed=$((failed + f))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
