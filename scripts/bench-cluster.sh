#!/usr/bin/env bash
# The cluster's load benchmarks (issue: cluster), run by `make bench` after
# scripts/bench-edge.sh; results and their reading are in docs/benchmarks.md:
#   - publishes a second through 3 nodes, and the latency from a publish on
#     one node to clients of the others at 1,000 publishes a second,
#   - fan-out by 4 nodes sharing one port, 19,000 connections each,
#   - the table's rows of 100,000 and 200,000 through one cluster.
# edgebench starts redis-server and rabbitmq-server for each run (or give
# REDIS and AMQP URLs) and stops everything it started. Sizes can be
# lowered for a quick look:
#   FANOUT=4000 ROWS=20000 scripts/bench-cluster.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FANOUT=${FANOUT:-76000}
ROWS=${ROWS:-100000,200000}
services=()
[ -n "${REDIS:-}" ] && services+=(-redis "$REDIS")
[ -n "${AMQP:-}" ] && services+=(-amqp "$AMQP")

mkdir -p bin
go build -o bin/edgepush ./cmd/edgepush
go build -o bin/edgebench ./cmd/edgebench

echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
bin/edgebench cluster "${services[@]}" -publishers 64 -depth 2 -duration 10s -latency-duration 10s -json
bin/edgebench table -spawn 4 -cluster -reuseport "${services[@]}" -per-server $((FANOUT / 4)) -rows "$FANOUT" \
	-pushes 10 -server-args "-ping-interval 10m" -json
bin/edgebench table -spawn 1 -cluster "${services[@]}" -rows "$ROWS" -pushes 5 -server-args "-ping-interval 10m" -json
