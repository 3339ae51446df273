#!/bin/sh
# run.sh BUILD TARGET SECONDS — runs one libFuzzer target for SECONDS from the
# committed seeds (tests/fuzz/corpus/TARGET) plus the corpus it grew before
# (BUILD/corpus/TARGET, which receives new inputs).  A crash leaves its input
# in BUILD/artifacts/TARGET/ and fails with the sanitizer report's head.
set -u
build=$1 t=$2 secs=$3
case $t in
  http)                 flags="-dict=tests/fuzz/http.dict -timeout=30 -rss_limit_mb=4096" ;;
  f32json|jsonwalk|spec) flags="-dict=tests/fuzz/json.dict -timeout=10" ;;
  *)                    flags="-timeout=10" ;;
esac
mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
log=$build/fuzz-$t.log
echo "== fuzz_$t for $secs s"
if ! "$build/fuzz_$t" $flags -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
  echo "FAILED: fuzz_$t found a crash (log $log; input in $build/artifacts/$t/)"
  grep -m1 -A30 -E 'ERROR: |runtime error|deadly signal|timeout after|fuzz_[a-z_]+: ' "$log"
  exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
cov=$(grep -E 'DONE +cov:' "$log" | tail -1 | sed 's/.*cov: \([0-9]*\).*/\1/')
echo "   $runs inputs, coverage $cov edges, no crash"
