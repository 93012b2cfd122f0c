# acs-emulator — the two commands a newcomer needs:
#   make run    start the emulator with its embedded defaults (HTTPS :8443, HTTP :8080)
#   make test   run every test: Rust unit + integration tests, then the official Python and
#               JavaScript SDK suites (creates tests/sdk/python/.venv and tests/sdk/js/node_modules)

CARGO ?= cargo

.PHONY: run test test-rust test-sdk lint fmt build release container-check bench bench-startup

run:
	$(CARGO) run --release

build:
	$(CARGO) build

release:
	$(CARGO) build --release

test: lint test-rust test-sdk

# Short panics (no backtrace): a CI log excerpt then shows the failed assertion and its values
# instead of thirty frames. Run `cargo test` directly for backtraces.
test-rust:
	RUST_BACKTRACE=0 $(CARGO) test --all-targets

# The SDK suites drive the real binary; run.sh installs the pinned SDKs locally on first use.
test-sdk: build
	ACS_EMULATOR_BIN=$(CURDIR)/target/debug/acs-emulator bash tests/sdk/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Builds the Dockerfile with rootful podman, runs it, checks health and one signed request (root only).
container-check:
	bash scripts/container-check.sh

# Throughput, latency, CPU per request, memory per item and start-up (needs wrk); see BENCHMARKS.md.
bench: release
	python3 bench/load.py

# Start-up time and idle memory of the release binary.
bench-startup: release
	python3 bench/startup.py
