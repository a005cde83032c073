#!/usr/bin/env bash
# Builds the libFuzzer targets (make fuzz: clang, ASan, UBSan, in build-fuzz) and runs each
# one for a bounded time on its seed corpus tests/fuzz/<target>/ (fuzz_<target>.c).
# New inputs go to a scratch corpus, never into the tree; a crash leaves its input in
# build-fuzz/artifacts/ and fails the run: add that input to tests/fuzz/<target>/ (it is then
# replayed on every run) and a unit test for the fix.
# Usage: tests/fuzz/run.sh [-t SECONDS_PER_TARGET] [-r] [TARGET...]
#   -r   replay the seed corpora only (seconds; what unit-test-like CI needs)
# Prints one line per target: "fuzz <target>: <execs> execs in <s>s, <n> corpus, ok|FAILED"
# and ends with "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-45}
replay=0
while getopts "t:r" o; do
  case $o in t) secs=$OPTARG;; r) replay=1;; *) sed -n '2,11p' "$0"; exit 2;; esac
done
shift $((OPTIND - 1))
out=${FUZZ_OUT:-build-fuzz}
mkdir -p "$out"
make --no-print-directory -j"$(nproc)" fuzz FUZZ_OUT="$out" >"$out/build.log" 2>&1 || {
  tail -30 "$out/build.log"; echo "fuzz: build failed (log: $out/build.log)"; exit 1; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
mkdir -p "$out/artifacts"
passed=0; failed=0
for t in "${targets[@]}"; do
  bin="$out/fuzz/fuzz_$t"; seeds="tests/fuzz/$t"
  log="$out/fuzz_$t.log"
  dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz $t: missing $bin or $seeds FAILED"; failed=$((failed + 1)); continue
  fi
  t0=$(date +%s)
  if [ "$replay" = 1 ]; then
    # one run per seed file: the regression inputs of earlier crashes
    timeout 300 "$bin" -runs=1 "${dict[@]}" "$seeds"/* >"$log" 2>&1; rc=$?
  else
    work=$(mktemp -d); cp -r "$seeds/." "$work/"
    timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="$out/artifacts/${t}-" \
      "${dict[@]}" "$work" >"$log" 2>&1; rc=$?
    ncorp=$(ls "$work" | wc -l); rm -rf "$work"
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ "$replay" = 1 ] && execs=$(ls "$seeds" | wc -l) && ncorp=$execs
  verdict=ok
  if [ "$rc" -ne 0 ]; then
    verdict=FAILED; failed=$((failed + 1))
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|deadly' "$log" | head -10
  else
    passed=$((passed + 1))
  fi
  echo "fuzz $t: ${execs:-?} execs in $(( $(date +%s) - t0 ))s, ${ncorp:-?} corpus, $verdict (log: $log)"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
