# kfed — the two commands a newcomer needs:
#   make demo   bring up the testbed, install kfed's API and apply the samples
#   make test   run every test (lint, unit, testbed, integration against real kube-apiservers)

SHELL := /bin/bash
CARGO ?= cargo

include tests/testbed/testbed.mk

.PHONY: all build crds fmt lint layout unit test integration test-loaded join deploy bench chaos image demo demo-stop clean

all: build

build:
	$(CARGO) build --locked

## Regenerate the CRDs under config/crd/bases and the built-in FTCs under config/typeconfigs from the codegen catalog.
crds:
	$(CARGO) run --locked --quiet -- crds --output-dir config/crd/bases --typeconfig-dir config/typeconfigs

fmt:
	$(CARGO) fmt --all

lint: layout
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	cd tests/testbed/launcher && gofmt -l . | (! grep .) && go vet ./...

## The shape of src/: Rust files, the largest, files over 500 lines; fails on an import circle.
layout:
	python3 tests/layout.py src

## Unit tests: pure engines, codegen, CRD drift check, launcher.
unit:
	$(CARGO) test --locked --workspace --lib --bins
	cd tests/testbed/launcher && go test ./...

## Integration tests against the testbed (started and stopped here unless already running).
integration:
	$(CARGO) build --locked --workspace --tests
	tests/run-integration.sh

test: lint unit testbed-test integration

## The integration suite RUNS times (default 2) while stress-ng keeps every core busy.
test-loaded:
	$(CARGO) build --locked --workspace --tests
	tests/loaded.sh

## Register every testbed member with the host, each with a least-privilege ServiceAccount.
join: build
	@export KUBECONFIG="$${KFED_TESTBED_DIR:-$(CURDIR)/.testbed}/kubeconfig"; \
	for m in $$(kubectl config get-contexts -o name | grep '^member'); do \
	  target/debug/kfed join "$$m" --cluster-context "$$m" --host-cluster-context host || exit 1; \
	done

## Render config/default into deploy/kfed.yaml (a test fails when it is stale).
deploy:
	deploy/render.sh

## Propagation benchmark on a dedicated testbed: make bench [ARGS="--objects 10000"].
bench:
	bench/run.sh $(ARGS)

## Reliability suite at full scale (member outage, operator SIGKILLs, leader failover) on a
## dedicated testbed: make chaos [KFED_CHAOS_SEED=n]. `make test` runs its short variant.
chaos:
	tests/chaos.sh

## Container image (needs a Docker engine with BuildKit; none runs on the development machines).
image:
	docker build -t kfed:0.1.0 .

## One command from a fresh machine to a running demo.
demo: testbed-up
	tests/demo.sh

demo-stop:
	tests/demo-stop.sh

clean: demo-stop testbed-down
	$(CARGO) clean
