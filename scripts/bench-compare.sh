#!/usr/bin/env bash
# edgepush against its baseline, run by `make bench-compare`: the same
# edgebench scenarios against edgepush and against bench/peers/gorilla (the
# usual goroutine-per-connection server on gorilla/websocket), one server at
# a time on 127.0.0.1, then a table of both and their ratio.
#
#   scripts/bench-compare.sh                     # 5000 connections
#   CONNS=2000 DURATION=5s scripts/bench-compare.sh
#
# Env: CONNS (5000), PUSHES fanout pushes (10), RATE throughput publishes per
# second (50), DURATION throughput publishing time (10s), RUN_TIMEOUT seconds
# one edgebench run may take (300). Every process started here is stopped on
# exit. The script fails if a build, a server or an edgebench run fails; a
# throughput run that did not deliver everything is a result, shown in the
# table, not a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONNS=${CONNS:-5000}
PUSHES=${PUSHES:-10}
RATE=${RATE:-50}
DURATION=${DURATION:-10s}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}

mkdir -p bin
go build -o bin/edgepush ./cmd/edgepush
go build -o bin/edgebench ./cmd/edgebench
go build -o bin/gorilla-peer ./bench/peers/gorilla

out=$(mktemp -d)
server=""
bench=""

# stop PID: SIGTERM, then SIGKILL if it has not gone within 15 s; returns
# the process's exit status.
stop() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid"
}

cleanup() {
	set +e # stop everything even if one stop fails
	[ -n "$bench" ] && stop "$bench" >/dev/null 2>&1
	[ -n "$server" ] && stop "$server" >/dev/null 2>&1
	rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "bench-compare: $*" >&2
	exit 1
}

healthy() { curl -sf --max-time 1 "http://$1/healthz" >/dev/null 2>&1; }

# start NAME WS API CMD...: starts a server and waits until its API answers.
start() {
	local name=$1 ws=$2 api=$3
	shift 3
	healthy "$api" && fail "$api already answers; is another server running?"
	"$@" -listen "$ws" -api "$api" &
	server=$!
	for _ in $(seq 100); do
		kill -0 "$server" 2>/dev/null || fail "$name exited at start"
		healthy "$api" && return
		sleep 0.1
	done
	fail "$name did not answer on $api within 10 s"
}

# scenario NAME LABEL WS API ARGS...: one edgebench run, its JSON kept in
# $out/NAME.LABEL.json. It runs in the background so that a signal reaches
# the trap at once, and under timeout so that it cannot hang.
scenario() {
	local name=$1 label=$2 ws=$3 api=$4
	shift 4
	timeout -k 10 "$RUN_TIMEOUT" bin/edgebench "$label" "$@" -target "$ws" -api "$api" -json >"$out/$name.$label.json" &
	bench=$!
	wait "$bench" || fail "edgebench $label $* against $name failed"
	bench=""
	kill -0 "$server" 2>/dev/null || fail "$name died during $label"
}

# measure NAME WS API CMD...: every scenario against one fresh server.
measure() {
	local name=$1 ws=$2 api=$3
	echo "bench-compare: $name" >&2
	start "$@"
	scenario "$name" idle "$ws" "$api" -conns "$CONNS"
	scenario "$name" fanout "$ws" "$api" -conns "$CONNS" -pushes "$PUSHES"
	scenario "$name" throughput "$ws" "$api" -conns "$CONNS" -rate "$RATE" -duration "$DURATION"
	local pid=$server
	server=""
	stop "$pid" || fail "$name exited with status $? on SIGTERM"
}

measure edgepush 127.0.0.1:18080 127.0.0.1:18081 bin/edgepush -log-level warn
measure gorilla 127.0.0.1:18090 127.0.0.1:18091 bin/gorilla-peer

echo "# $(nproc) cores, $(uname -sr); CONNS=$CONNS PUSHES=$PUSHES RATE=$RATE DURATION=$DURATION"
python3 - "$out" <<'EOF'
import json, sys

out = sys.argv[1]
def load(server, scenario):
    with open(f"{out}/{server}.{scenario}.json") as f:
        return json.load(f)

# (scenario, field, label, lower is better)
ROWS = [
    ("idle", "bytes_per_conn", "idle: server RSS per connection, bytes", True),
    ("idle", "rss_after_mib", "idle: server RSS with all connections, MiB", True),
    ("idle", "server_connections", "idle: connections the server counts", None),
    ("fanout", "p50_ms", "fanout: latency p50, ms", True),
    ("fanout", "p99_ms", "fanout: latency p99, ms", True),
    ("fanout", "max_ms", "fanout: latency max, ms", True),
    ("fanout", "last_median_ms", "fanout: last arrival, median of pushes, ms", True),
    ("fanout", "errors", "fanout: client errors", None),
    # frames/s cannot pass publishes/s x CONNS: below saturation it is the offered load.
    ("throughput", "publishes_per_sec", "throughput: publishes per second sent", None),
    ("throughput", "frames_per_sec", "throughput: frames delivered per second", False),
    ("throughput", "p50_ms", "throughput: latency p50, ms", True),
    ("throughput", "p99_ms", "throughput: latency p99, ms", True),
    ("throughput", "max_ms", "throughput: latency max, ms", True),
    ("throughput", "errors", "throughput: client errors", None),
]

def value(result, field):
    v = result.get(field, 0)
    return sum(v.values()) if isinstance(v, dict) else float(v)

def fmt(v):
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.2f}"

def ratio(e, g, lower):
    # How many times better edgepush is: above 1, edgepush wins.
    if lower is None or e <= 0 or g <= 0:
        return "-"
    return f"{(g / e if lower else e / g):.2f}x"

print(f"| {'metric':44} | {'edgepush':>12} | {'gorilla':>12} | {'ratio':>8} |")
print(f"|{'-' * 46}|{'-' * 14}|{'-' * 14}|{'-' * 10}|")
for scenario, field, label, lower in ROWS:
    e = value(load("edgepush", scenario), field)
    g = value(load("gorilla", scenario), field)
    print(f"| {label:44} | {fmt(e):>12} | {fmt(g):>12} | {ratio(e, g, lower):>8} |")
print("ratio: how many times better edgepush is (above 1: edgepush ahead);")
print("for latency and memory that is gorilla/edgepush, for frames/s edgepush/gorilla.")
for server in ("edgepush", "gorilla"):
    for scenario in ("fanout", "throughput"):
        r = load(server, scenario)
        if r.get("errors"):
            print(f"{server} {scenario} errors: {r['errors']}")
        if "incomplete" in r:
            print(f"{server} {scenario} INCOMPLETE: {r['incomplete']}")
EOF
