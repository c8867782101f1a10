# Sourced by the load benchmark scripts (bench-edge.sh, bench-metrics.sh):
# builds bin/edgepush and bin/edgebench, and runs one edgepush at a time
# on $WS and $API, stopped on exit.
#   start_server FLAGS...   a fresh server; its pid in $server once /healthz answers
#   stop_server             SIGTERM, then wait for it

mkdir -p bin
go build -o bin/edgepush ./cmd/edgepush
go build -o bin/edgebench ./cmd/edgebench

server=""
stop_server() {
	if [ -n "$server" ]; then
		kill -TERM "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
		server=""
	fi
}
trap stop_server EXIT

start_server() {
	bin/edgepush -listen "$WS" -api "$API" -log-level warn "$@" &
	server=$!
	for _ in $(seq 50); do
		curl -sf "http://$API/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
}
