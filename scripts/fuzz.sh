#!/usr/bin/env bash
# Runs every fuzz target of the module, one at a time, each for FUZZTIME
# (first argument, default 10s). Targets are found with
# `go test -list 'Fuzz.*'` in every package, so a new FuzzXxx joins by itself.
# -fuzzminimizetime is bounded (100 runs an input): unbounded, go test spends
# most of a short run minimizing each new input and fuzzes at 0 execs/s.
#
#   scripts/fuzz.sh 10s     # the short run in `make test`
#   scripts/fuzz.sh 2m      # `make fuzz`
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime="${1:-10s}"

# `go test -list` prints each matching name on its own line, then one
# "ok  <package> ..." line per package; collect "package name" pairs.
list="$(go test -list '^Fuzz' ./...)"
targets="$(printf '%s\n' "$list" | awk '
	/^Fuzz[A-Za-z0-9_]*$/ { names[++n] = $1; next }
	/^ok[ \t]/ { for (i = 1; i <= n; i++) print $2, names[i]; n = 0; next }
	/^\?[ \t]/ { n = 0 }
')"

if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found"
	exit 0
fi

# fuzz_one PKG NAME runs one target. Go 1.26's fuzz coordinator can end a
# clean run with a bare "context deadline exceeded" at the -fuzztime boundary
# (golang/go#75804, fixed in Go 1.27): such a run, which wrote no failing
# input to testdata/fuzz/NAME, is reported and not failed; any run that
# wrote a failing input, or failed otherwise, fails.
fuzz_one() {
	local pkg=$1 name=$2 dir out status
	dir="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name"
	before="$(ls "$dir" 2>/dev/null | sort || true)"
	out="$(mktemp)"
	status=0
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg" 2>&1 | tee "$out" || status=$?
	if [ "$status" -ne 0 ]; then
		after="$(ls "$dir" 2>/dev/null | sort || true)"
		if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$out" && ! grep -q -- '--- FAIL: .*Failing input' "$out"; then
			echo "fuzz.sh: $name: the fuzz coordinator's deadline race (golang/go#75804), no failing input: not a failure"
		else
			rm -f "$out"
			exit "$status"
		fi
	fi
	rm -f "$out"
}

count=0
while read -r pkg name; do
	echo "fuzz.sh: $pkg $name for $fuzztime"
	# -run '^$' skips the package's other tests: `go test` already ran them.
	fuzz_one "$pkg" "$name"
	count=$((count + 1))
done <<<"$targets"
echo "fuzz.sh: $count fuzz targets ran for $fuzztime each"
