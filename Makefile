# edgepush: see README.md.
#
#   make run     the demo server on :8080 (open http://localhost:8080/)
#   make test    installs what the tests need, then every test and a short fuzz run
#   make lint    gofmt and go vet
#   make bench   every Go benchmark, then the load benchmarks (scripts/bench-edge.sh, bench-metrics.sh, bench-cluster.sh)
#   make fuzz    each fuzz target for FUZZTIME (default 2m)
#   make build   bin/edgepush

GO          ?= go
TESTTIMEOUT ?= 30m
FUZZTIME    ?= 2m
SHORTFUZZ   ?= 10s

.PHONY: all run build test deps fuzz bench lint clean

all: build

run:
	$(GO) run ./cmd/edgepush -demo

build:
	$(GO) build -o bin/edgepush ./cmd/edgepush

deps:
	bash scripts/deps.sh

# One recipe, so the steps run in this order even under make -j.
test:
	bash scripts/deps.sh
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) ./...
	# Allocation counts are checked without -race, which empties sync.Pools on purpose.
	$(GO) test -count=1 -run 'Allocat' ./...
	bash scripts/fuzz.sh $(SHORTFUZZ)

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash scripts/bench-edge.sh
	bash scripts/bench-metrics.sh
	bash scripts/bench-cluster.sh

# edgebench against edgepush and against the gorilla/websocket baseline
# (bench/peers/gorilla), then the ratios; CONNS, PUSHES, RATE, DURATION.
.PHONY: bench-compare
bench-compare:
	bash scripts/bench-compare.sh

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l finds unformatted files:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
