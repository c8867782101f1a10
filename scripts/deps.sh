#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine. Idempotent: a
# second run installs nothing and asks no registry anything.
#
#   Debian: chromium (e2e/chromium_test.go), python3-websockets for
#           /usr/bin/python3 (e2e/testdata/py_client.py), redis-server and
#           rabbitmq-server (store and bus tests), haproxy (e2e/haproxy_test.go,
#           deploy/haproxy/haproxy.cfg).
#   npm:    ws 8.x into e2e/testdata/node/node_modules (e2e/testdata/node/client.js).
#
# Go modules come through `go test` itself.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "deps.sh: need root (or sudo) to run: $*" >&2
		exit 1
	fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps.sh: installing from Debian: ${missing[*]}"
	# A failed update leaves the old lists; the install below says whether
	# they were enough.
	as_root apt-get update || echo "deps.sh: warning: apt-get update failed" >&2
	# One install call for everything, so there is one update and one
	# dependency resolution. redis-server, rabbitmq-server and haproxy come
	# along even when only one package is missing: later suites need them. A second try
	# covers a download that broke off.
	for try in 1 2; do
		if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y \
			chromium python3-websockets redis-server rabbitmq-server haproxy; then
			break
		fi
		[ "$try" -lt 2 ] || { echo "deps.sh: apt-get install failed" >&2; exit 1; }
		sleep 5
	done
	# Debian starts the services it installs where it can; the tests start
	# their own on free ports, so the system ones are not needed.
fi

[ -x /usr/bin/chromium ] || { echo "deps.sh: /usr/bin/chromium still missing" >&2; exit 1; }
/usr/bin/python3 -c 'import websockets' || { echo "deps.sh: /usr/bin/python3 cannot import websockets" >&2; exit 1; }

# npm's ws, for the Node.js interop client.
nodedir="$root/e2e/testdata/node"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "deps.sh: node and npm are required (Node.js 20)" >&2
	exit 1
fi
have_ws() {
	node -e 'const v = require(process.argv[1] + "/node_modules/ws/package.json").version;
		process.exit(/^8\./.test(v) ? 0 : 1)' "$nodedir" >/dev/null 2>&1
}
if ! have_ws; then
	echo "deps.sh: installing npm ws 8.x into $nodedir"
	# package-lock.json pins the exact version; npm ci installs just that.
	if ! npm ci --prefix "$nodedir" --no-audit --no-fund; then
		npm install --no-save --prefix "$nodedir" --no-audit --no-fund ws@8
	fi
fi
have_ws || { echo "deps.sh: ws 8.x not installed in $nodedir/node_modules" >&2; exit 1; }

echo "deps.sh: all test dependencies present"
