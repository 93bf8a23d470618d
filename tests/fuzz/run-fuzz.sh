#!/bin/sh
# A bounded libFuzzer run of the migration receiver, for `make unit`.
# usage: run-fuzz.sh FUZZER SEEDS WORKDIR RUNS SECONDS
# Fresh corpus from the seeds each time, fixed seed: the same run every
# time, so a failure reproduces. Exits non-zero on any crash, leak or
# sanitizer report; the crashing input is kept in WORKDIR.
set -eu
fuzzer=$1 seeds=$2 work=$3 runs=$4 seconds=$5
rm -rf "$work" && mkdir -p "$work/corpus"
cp "$seeds"/seed-* "$work/corpus/"
cd "$work"
if "$fuzzer" -seed=1 -runs="$runs" -max_total_time="$seconds" -max_len=262144 \
	-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus > fuzz.log 2>&1; then
	grep -E '^stat::number_of_executed_units' fuzz.log | sed 's/^/fuzz_recv: /'
	echo "fuzz_recv: no crash"
	exit 0
fi
tail -40 fuzz.log
echo "fuzz_recv: FAILED, input kept in $work (see fuzz.log)"
exit 1
