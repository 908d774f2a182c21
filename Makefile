# hookrunner — see README.md. `make demo` and `make test` are the two commands
# a newcomer needs; everything else is a step of those.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
PKG     := github.com/hookrunner/hookrunner
# The exact flags the Dockerfile uses: static, trimmed, stamped.
LDFLAGS := -s -w -X $(PKG)/runner.Version=$(VERSION) -X $(PKG)/runner.Commit=$(COMMIT)
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: all build binary image image-oci tools test vet fuzz bench cluster-up cluster-down demo clean

all: build

## build: bin/hookrunner for this machine
build:
	$(GOBUILD) -o bin/hookrunner ./cmd/hookrunner

## binary: static linux/amd64 and linux/arm64 binaries with the Dockerfile's flags
binary:
	for arch in amd64 arm64; do GOOS=linux GOARCH=$$arch $(GOBUILD) -o bin/hookrunner-linux-$$arch ./cmd/hookrunner; done

## image: multi-arch image with docker buildx (needs a Docker engine; none runs here)
IMAGE ?= hookrunner:$(VERSION)
PLATFORMS ?= linux/amd64,linux/arm64
image:
	docker buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

## image-oci: the same image as an OCI archive with no Docker engine (cmd/ociimage), for
## OCI_ARCHES (default amd64 and arm64), named as the wrapper chart's default image
## (hookrunner:<appVersion>); import it with: ctr -n k8s.io images import bin/hookrunner.oci.tar
APP_VERSION := $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/hookrunner/Chart.yaml)
IMAGE_NAME ?= docker.io/library/hookrunner:$(APP_VERSION)
OCI_ARCHES ?= amd64 arm64
HOST_ARCH := $(shell $(GO) env GOARCH)
image-oci:
	for arch in $(OCI_ARCHES); do GOOS=linux GOARCH=$$arch $(GOBUILD) -o bin/hookrunner-linux-$$arch ./cmd/hookrunner; done
	$(GO) run ./cmd/ociimage -o bin/hookrunner.oci.tar -name $(IMAGE_NAME) -base static -entrypoint /hookrunner \
	  $(foreach a,$(OCI_ARCHES),-binary linux/$(a)=bin/hookrunner-linux-$(a))

bin/testcluster: $(shell find test/cluster test/cmd/testcluster -name '*.go' -o -name '*.yaml') go.mod go.sum
	$(GO) build -o $@ ./test/cmd/testcluster

## tools: Debian packages the real node needs (when missing), then the control
## plane, kubelet, kube-proxy and helm CLIs from pinned modules (cached by pin)
tools:
	test/tools/packages.sh
	test/tools/build.sh

## test: everything; the cluster tests need the tools. The packages that run goroutines
## of their own (lock renewal, in-flight limits, waits, callbacks, progress) run under -race.
RACE_PKGS := $(PKG)/kube $(PKG)/runner $(PKG)/runner/callback $(PKG)/runner/retry
test: tools vet
	$(GO) test -count=1 -timeout 40m $$($(GO) list ./... | grep -v -x $(foreach p,$(RACE_PKGS),-e $(p)))
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

vet:
	$(GO) vet ./...

## fuzz: every fuzz target for FUZZTIME each (not part of make test; seeds run in make test)
FUZZTIME ?= 5m
FUZZ_TARGETS := runner/callback:FuzzParseCurl kube:FuzzLoadKubeconfig kube/yamldoc:FuzzSplit kube/yamldoc:FuzzToJSON kube/yamldoc:FuzzObject kube:FuzzParseCondition chart:FuzzSetValues images:FuzzRewrite
fuzz:
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$fn ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; done

## bench: hookrunner vs the helm CLI and the client-go limit; writes docs/benchmarks.md and .png (not part of make test)
BENCH_RUNS ?= 5
BENCH_SIZES ?= 10,300,1000,3000
bench: tools
	$(GO) run ./test/cmd/bench -runs $(BENCH_RUNS) -sizes $(BENCH_SIZES) -ldflags "$(LDFLAGS)" -out docs

## cluster-up / cluster-down: the local control plane in the background (.cluster/), with a
## real node (containerd + kubelet) that runs the hookrunner image imported under the chart's default name
cluster-up: tools bin/testcluster
	$(MAKE) --no-print-directory image-oci OCI_ARCHES=$(HOST_ARCH)
	HOOKRUNNER_CLUSTER_ARGS="--real-node --image $(CURDIR)/bin/hookrunner.oci.tar" test/tools/cluster.sh up

cluster-down:
	test/tools/cluster.sh down

## demo: control plane + an example install through hookrunner
demo: cluster-up
	test/demo.sh

clean: cluster-down
	rm -rf bin .tools
