#!/usr/bin/env bash
# What the latency histograms of /metrics cost on the push path (issue 9):
# continuous publishing to CONNS subscribers of one key, on a fresh server
# with -latency-histograms=true and one with false, in PAIRS pairs whose
# order alternates (on/off, then off/on, ...), so that drift of the shared
# machine falls on both. For each run: edgebench's frames/s and latency, and
# the server's CPU time (utime + stime from /proc/PID/stat) over the run.
# Run by `make bench`:
#   CONNS=10000 RATE=200 DURATION=10s PAIRS=3 scripts/bench-metrics.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONNS=${CONNS:-10000}
RATE=${RATE:-200}
DURATION=${DURATION:-10s}
PAIRS=${PAIRS:-3}
WS=127.0.0.1:18280
API=127.0.0.1:18281

# shellcheck source=scripts/server.sh
. scripts/server.sh

# cpu_ticks PID: the process's utime + stime, in clock ticks.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# run HISTOGRAMS: one run on a fresh server; prints one JSON line.
run() {
	start_server -drain-timeout 0 -latency-histograms="$1" 2>/dev/null
	local before after result
	before=$(cpu_ticks "$server")
	result=$(bin/edgebench throughput -conns "$CONNS" -rate "$RATE" -duration "$DURATION" -target "$WS" -api "$API" -json 2>/dev/null)
	after=$(cpu_ticks "$server")
	stop_server
	echo "{\"histograms\":$1,\"server_cpu_s\":$(awk -v a="$after" -v b="$before" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (a - b) / hz }'),\"edgebench\":$result}"
}

echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
echo "# throughput -conns $CONNS -rate $RATE -duration $DURATION, $PAIRS pairs"
for i in $(seq "$PAIRS"); do
	if [ $((i % 2)) -eq 1 ]; then
		run true
		run false
	else
		run false
		run true
	fi
done
