# Convenience targets; scripts/test is the one command CI runs.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test bench bench-go fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/drover ./cmd/drover

test:
	scripts/test

# End-to-end benchmarks of the real binary (docs/benchmarks.md). Pass
# options with BENCH_FLAGS, for example BENCH_FLAGS="-backlog 256MiB steady-100".
BENCH_FLAGS ?= -wait-load 1.5
bench:
	$(GO) run ./bench/cmd/drover-bench $(BENCH_FLAGS)

# Go benchmarks of the hot path, with allocation counts.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
