# rafthttp: the two commands a newcomer needs are `make demo` and `make test`.
GO ?= go
FUZZTIME ?= 30s
MODULES := . interop

.PHONY: test test-root test-interop cover fuzz vet fmt demo bench

## test: every module's tests with the race detector (goleak runs in each TestMain).
test: test-root test-interop

test-root:
	$(GO) test -race -count=1 -timeout 20m ./...

test-interop:
	@if [ -f interop/go.mod ]; then cd interop && $(GO) test -race -count=1 -timeout 20m ./...; fi

## cover: statement coverage of the root package.
cover:
	$(GO) test -count=1 -coverprofile=coverage.out .
	$(GO) tool cover -func=coverage.out | tail -n 1

## fuzz: run every fuzz target (root package and transport/) for FUZZTIME each.
fuzz:
	@for pkg in . ./transport; do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

vet:
	@for m in $(MODULES); do [ -f $$m/go.mod ] && (cd $$m && $(GO) vet ./...) || true; done

fmt:
	gofmt -l -w .

## demo: build raftexample and run a 3-member cluster on loopback (kill, compaction, snapshot catch-up).
demo:
	$(GO) run ./examples/raftexample/demo

## bench: etcd's Transport vs ours, same workloads in the same process; prints the table of
## docs/performance.md. BENCHCOUNT rounds (6: benchstat's minimum for confidence intervals),
## each two processes, so both sides of a row run close together in time. Tunable: BENCHTIME
## (1s), BENCHCOUNT, BENCH_SNAPSHOT_SIZE (1GiB). Raw output stays in bench.out for
## `go run golang.org/x/perf/cmd/benchstat@latest -col /impl bench.out`.
bench:
	@cd interop && for i in $$(seq $(or $(BENCHCOUNT),6)); do \
		echo "# round $$i"; \
		$(GO) test -run '^$$' -bench '^Benchmark(MsgApp|MsgAppBatch|MsgAppBuild|HeartbeatUnderLoad|RawTCP)$$' \
			-benchtime $(or $(BENCHTIME),1s) -count 1 -timeout 30m . || exit 1; \
		$(GO) test -run '^$$' -bench '^Benchmark(Snapshot|IdlePeers)$$' -benchtime 1x -count 1 -timeout 30m . || exit 1; \
	done 2>&1 | tee ../bench.out
	@! grep -Eq '^(FAIL|--- FAIL|panic:)' bench.out || { echo 'bench: a benchmark failed (see bench.out)'; exit 1; }
	@cd interop && $(GO) run ./benchtable ../bench.out
