#!/usr/bin/env bash
# The push path against a previous commit, side by side in one run: builds
# PREV's edgepush (default: the first parent of HEAD) and this tree's, then
# runs each scenario against a fresh server of each, alternating A B A B so
# that the machine's noise falls on both. The load generator is PREV's
# edgebench for both, so the client side is the same code.
#
#   PREV=f6bc7e3 scripts/bench-prev.sh
#   FANOUT=2000 THROUGHPUT=2000 ROUNDS=1 scripts/bench-prev.sh   # a quick look
#   SCENARIOS=throughput ROUNDS=4 scripts/bench-prev.sh          # one scenario
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PREV=${PREV:-HEAD~1}
FANOUT=${FANOUT:-19000}
THROUGHPUT=${THROUGHPUT:-10000}
RATE=${RATE:-100}
ROUNDS=${ROUNDS:-2}
SCENARIOS=${SCENARIOS:-"fanout throughput"}
WS=127.0.0.1:18180
API=127.0.0.1:18181

tree=$(mktemp -d)
server=""
cleanup() {
	if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
}
trap cleanup EXIT
git worktree add --detach "$tree" "$PREV" >/dev/null
mkdir -p bin
(cd "$tree" && go build -o "$OLDPWD/bin/edgepush-prev" ./cmd/edgepush && go build -o "$OLDPWD/bin/edgebench-prev" ./cmd/edgebench)
go build -o bin/edgepush ./cmd/edgepush

# run NAME BINARY -- EDGEBENCH ARGS: one scenario against a fresh server.
run() {
	local name=$1 binary=$2
	shift 2
	"$binary" -listen "$WS" -api "$API" -log-level warn &
	server=$!
	for _ in $(seq 50); do
		curl -sf "http://$API/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	printf '{"server":"%s",' "$name"
	bin/edgebench-prev "$@" -target "$WS" -api "$API" -json | sed 's/^{//'
	kill -TERM "$server"; wait "$server" 2>/dev/null || true
	server=""
}

echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); prev $(git rev-parse --short "$PREV"), this $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"
for _ in $(seq "$ROUNDS"); do
	for side in prev this; do
		binary=bin/edgepush; [ "$side" = prev ] && binary=bin/edgepush-prev
		case " $SCENARIOS " in *" fanout "*)
			run "$side" "$binary" fanout -conns "$FANOUT" -pushes 20 -pause 300ms ;;
		esac
		case " $SCENARIOS " in *" throughput "*)
			run "$side" "$binary" throughput -conns "$THROUGHPUT" -rate "$RATE" -duration 10s ;;
		esac
	done
done
