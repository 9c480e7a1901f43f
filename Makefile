# rafthttp: the two commands a newcomer needs are `make demo` and `make test`.
GO ?= go
FUZZTIME ?= 30s
# Every Go module of the tree but tools/ (which only pins tools), found rather
# than listed so that a new module cannot be left out of vet.
MODULES ?= $(sort $(patsubst %/,%,$(dir $(shell find . -name go.mod -not -path './tools/*' -not -path '*/testdata/*' -not -path './.git/*'))))
# govulncheck needs the vulnerability database (network), so CI never runs it.
GOVULNCHECK_VERSION := v1.9.0

.PHONY: test test-root test-interop test-long cover fuzz vet vulncheck fmt demo bench etcd

## test: every module's tests with the race detector (goleak runs in each TestMain).
test: etcd test-root test-interop

test-root:
	$(GO) test -race -count=1 -timeout 20m ./...

test-interop:
	@if [ -f interop/go.mod ]; then cd interop && $(GO) test -race -count=1 -timeout 20m ./...; fi

## test-long: the gigabyte snapshot proofs of docs/snapshots.md (build tag rafthttp_long): 1 GiB
## cut three times at 20 MB/s, stalled twice for 10 s, heartbeats during a capped send, a raft
## follower caught up over a flaky link, and etcd's Transport under the same faults. Without
## -race: the detector multiplies the cost of hashing and copying gigabytes, and the same code
## runs under -race at megabyte sizes in `make test`. About 7–8 minutes on 2 cores; temporary
## files go to t.TempDir (TMPDIR, up to ~3 GiB at a time) and are removed.
test-long: etcd
	$(GO) test -tags rafthttp_long -run '^TestLong' -count=1 -v -timeout 30m . ./rafthttptest
	cd interop && $(GO) test -tags rafthttp_long -run '^TestLong' -count=1 -v -timeout 30m .

## etcd: install Debian's etcd-server and etcd-client (v3.4) for the tests against real etcd,
## unless etcd and etcdctl are on PATH already. The package's own service is kept from starting
## (policy-rc.d) and disabled: the tests run their own members on loopback ports.
etcd:
	@if command -v etcd >/dev/null && command -v etcdctl >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "etcd is not installed; run: sudo make etcd" >&2; exit 1; fi; \
	set -e; created=; \
	if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
		chmod +x /usr/sbin/policy-rc.d; created=1; fi; \
	trap '[ -z "$$created" ] || rm -f /usr/sbin/policy-rc.d' EXIT; \
	apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client; \
	if command -v systemctl >/dev/null; then systemctl disable --now etcd 2>/dev/null || true; fi

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

## vet: go vet and staticcheck (the version pinned in tools/go.mod) over every module.
vet:
	@set -e; sc=$$($(GO) -C tools tool -n staticcheck); \
	for m in $(MODULES); do \
		echo "== $$m: go vet, staticcheck"; \
		(cd $$m && $(GO) vet ./... && $$sc ./...); \
	done

## vulncheck: govulncheck over every module (needs network access; not part of CI).
vulncheck:
	@set -e; for m in $(MODULES); do \
		echo "== $$m: govulncheck"; \
		(cd $$m && $(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) ./...); \
	done

fmt:
	gofmt -l -w .

## demo: build raftexample and run a 3-member cluster on loopback (kill, compaction, snapshot catch-up).
demo:
	$(GO) run ./examples/raftexample/demo

## bench: etcd's Transport vs ours, same workloads in the same process; prints the table of
## docs/performance.md. BENCHCOUNT rounds (6: benchstat's minimum for confidence intervals),
## each two processes, so both sides of a row run close together in time: MsgApps one and 64
## per Send call, a three-node raft cluster with 64 clients, heartbeats under load, raw TCP;
## then snapshots (1 GiB and 4 GiB; ours, etcd's and a raw TCP copy), a 256 MiB snapshot over a
## flaky 50 MB/s link (three cuts) and idle peers. Tunable: BENCHTIME (1s), BENCHCOUNT,
## BENCH_SNAPSHOT_SIZE (comma-separated sizes, 1GiB,4GiB). Raw output stays in bench.out for
## `go run golang.org/x/perf/cmd/benchstat@latest -col /impl bench.out`.
bench:
	@cd interop && for i in $$(seq $(or $(BENCHCOUNT),6)); do \
		echo "# round $$i"; \
		$(GO) test -run '^$$' -bench '^Benchmark(MsgApp|MsgAppBatch|MsgAppBuild|HeartbeatUnderLoad|RawTCP|RaftCluster)$$' \
			-benchtime $(or $(BENCHTIME),1s) -count 1 -timeout 30m . || exit 1; \
		$(GO) test -run '^$$' -bench '^Benchmark(Snapshot|SnapshotFlakyLink|IdlePeers)$$' -benchtime 1x -count 1 -timeout 30m . || exit 1; \
	done 2>&1 | tee ../bench.out
	@! grep -Eq '^(FAIL|--- FAIL|panic:)' bench.out || { echo 'bench: a benchmark failed (see bench.out)'; exit 1; }
	@cd interop && $(GO) run ./benchtable ../bench.out
