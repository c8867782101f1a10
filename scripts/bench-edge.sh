#!/usr/bin/env bash
# The edge server's load benchmarks (issue: edge server core), run by
# `make bench` after the Go micro-benchmarks:
#   - server memory per idle connection at 10,000 and 19,000 connections,
#   - one push to 19,000 subscribers of one key (delivery latency),
#   - continuous publishing to 10,000 subscribers of one key (throughput),
#   - the machine's floor: raw write(2) fan-out to 19,000 connections,
#   - a resubscribe storm: 19,000 clients back at once with since (issue 6),
#   - the history's memory at 100,000 keys with the default history (issue 6),
#   - a drain of 19,000 clients to another node, unpaced and over 30 s: the
#     reconnect rate the other node sees.
# Each server run uses a fresh edgepush on 127.0.0.1; every process started
# here is stopped on exit. Sizes can be lowered for a quick look:
#   IDLE="2000" FANOUT=2000 THROUGHPUT=2000 RESUB=2000 HISTORY_KEYS=10000 DRAIN=2000 scripts/bench-edge.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

IDLE=${IDLE:-"10000 19000"}
FANOUT=${FANOUT:-19000}
THROUGHPUT=${THROUGHPUT:-10000}
RATE=${RATE:-100}
RESUB=${RESUB:-19000}
HISTORY_KEYS=${HISTORY_KEYS:-100000}
DRAIN=${DRAIN:-19000}
WS=127.0.0.1:18180
API=127.0.0.1:18181

# shellcheck source=scripts/server.sh
. scripts/server.sh

# with_server FLAGS -- EDGEBENCH ARGS: runs one scenario against a fresh server.
with_server() {
	local flags=$1
	shift
	# shellcheck disable=SC2086
	start_server $flags
	bin/edgebench "$@" -target "$WS" -api "$API" -json
	stop_server
}

echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
for n in $IDLE; do
	with_server "" idle -conns "$n"
done
with_server "" fanout -conns "$FANOUT" -pushes 20 -pause 300ms
with_server "" throughput -conns "$THROUGHPUT" -rate "$RATE" -duration 10s
with_server "-writers 1" throughput -conns "$THROUGHPUT" -rate "$RATE" -duration 10s
bin/edgebench floor -conns "$FANOUT" -writers 1 -rounds 10 -json
bin/edgebench floor -conns "$FANOUT" -writers 2 -rounds 10 -json
# These spawn their own servers beside bin/edgebench.
bin/edgebench resub -spawn -conns "$RESUB" -pushes 10 -json
bin/edgebench history -spawn -keys "$HISTORY_KEYS" -per-key 64 -json
bin/edgebench drain -conns "$DRAIN" -windows 0,30s -json
