#!/bin/sh
# A bounded libFuzzer run of one target (the migration receiver, a device's
# ports, the management API's JSON parser), for `make unit`;
# tools/benches/fuzz.py runs the same, longer.
# usage: run-fuzz.sh FUZZER SEEDS WORKDIR RUNS SECONDS [NAME]
# Fresh corpus from the seeds each time, fixed seed: the same run every
# time, so a failure reproduces. Exits non-zero on any crash, leak or
# sanitizer report; the crashing input is kept in WORKDIR.
set -eu
fuzzer=$1 seeds=$2 work=$3 runs=$4 seconds=$5 name=${6:-fuzz_recv}
rm -rf "$work" && mkdir -p "$work/corpus"
cp "$seeds"/seed-* "$work/corpus/"
cd "$work"
if "$fuzzer" -seed=1 -runs="$runs" -max_total_time="$seconds" -max_len="${FUZZ_MAX_LEN:-262144}" \
	-timeout=10 -rss_limit_mb=2048 ${FUZZ_FLAGS:-} -print_final_stats=1 corpus > fuzz.log 2>&1; then
	grep -E '^stat::number_of_executed_units' fuzz.log | sed "s/^/$name: /"
	echo "$name: no crash"
	exit 0
fi
tail -40 fuzz.log
echo "$name: FAILED, input kept in $work (see fuzz.log)"
exit 1
