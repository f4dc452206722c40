# imagelookup — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
DATA_DIR ?= .data
VENV ?= .venv

.PHONY: run test test-deps lint fmt bench bench-instructions build release certs demo image clean

## run: build and start the main job on the embedded default store
run:
	$(CARGO) run --quiet -- serve --data-dir $(DATA_DIR)

## test: install what the tests need (idempotent), then run every test
test: test-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) test --no-fail-fast

## test-deps: idempotent installs of kubectl, Python clients, etcd and a registry
test-deps:
	bash scripts/install-test-deps.sh

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --quiet

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## bench: release-mode benchmarks (see BENCHMARKS.md); table printed, JSON in target/bench/results.json
bench:
	$(CARGO) bench --bench resolver -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench --bench admission -- --warm-up-time 1 --measurement-time 2
	$(CARGO) bench --bench memory
	$(CARGO) bench --bench suite

## bench-instructions: instructions per /mutate stage under callgrind (needs valgrind); noise-free
bench-instructions:
	bash scripts/count-instructions.sh

## demo: with `make run` going, create a stream with an imported tag and pin a Pod through /mutate
demo:
	DATA_DIR=$(DATA_DIR) bash scripts/demo.sh

## certs: a CA and serving certificate for the in-cluster Service; fills manifests/registration/ca.env
certs:
	$(CARGO) run --quiet -- certs --service imagelookup --namespace imagelookup --out certs
	printf 'caBundle=%s\n' "$$(cat certs/ca-bundle.b64)" > manifests/registration/ca.env
	@echo "caBundle written to manifests/registration/ca.env; create the serving Secret with:"
	@echo "  kubectl -n imagelookup create secret tls imagelookup-tls --cert certs/tls.crt --key certs/tls.key"

## image: build the container image IMAGE (imagelookup:latest) with podman, docker or nerdctl
IMAGE ?= imagelookup:latest
CONTAINER_TOOL ?= $(shell command -v podman || command -v docker || command -v nerdctl)
image:
	@test -n "$(CONTAINER_TOOL)" || { echo "make image needs podman, docker or nerdctl (or CONTAINER_TOOL=...)" >&2; exit 1; }
	$(CONTAINER_TOOL) build -t $(IMAGE) .

clean:
	$(CARGO) clean
