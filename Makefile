# Convenience targets; scripts/test is the one command CI runs.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
BUILDINFO = github.com/drover-dev/drover/internal/buildinfo

.PHONY: build release image test bench bench-go fuzz chaos clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X $(BUILDINFO).version=$(VERSION)" -o bin/drover ./cmd/drover

# Static binaries for linux/amd64 and linux/arm64 with SHA-256 sums in
# dist/ (docs/install.md); VERSION= overrides the version from git tags.
release:
	VERSION=$(VERSION) scripts/release

# The container image (Dockerfile) of the release binaries, built with
# buildah (or IMAGE_BUILDER=docker); run make release first.
IMAGE ?= drover:$(VERSION)
image:
	IMAGE=$(IMAGE) VERSION=$(VERSION) scripts/image

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

# Every fuzz target for FUZZTIME each (CI runs them for 5s).
FUZZTIME ?= 2m
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz

# The reliability suite (test/chaos, docs/reliability.md) for DURATION of
# faults; SEED replays a run; RACE=1 builds drover with the race detector;
# MODE=kafka runs the kafka mode (aggregators behind a Kafka topic),
# MODE=kubernetes the Kubernetes mode (kubernetes_logs under pod churn).
# CI runs each for 20s as part of go test ./...
DURATION ?= 10m
SEED ?=
RACE ?=
MODE ?=
chaos:
	CHAOS_DURATION=$(DURATION) CHAOS_SEED=$(SEED) CHAOS_RACE=$(RACE) \
		$(GO) test -count=1 -v -run '^TestChaos$(if $(filter kafka,$(MODE)),Kafka,)$(if $(filter kubernetes,$(MODE)),Kubernetes,)$$' -timeout 3h ./test/chaos/

clean:
	rm -rf bin dist
