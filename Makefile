# acs-emulator — the two commands a newcomer needs:
#   make run    build (release) and start the emulator with its embedded defaults (HTTPS :8443,
#               HTTP :8080); flags go in ARGS: make run ARGS="--fixtures fixtures/ci-starter.yaml"
#   make test   run every test: lint, Rust unit + integration tests, the official Python and
#               JavaScript SDK suites, the README's snippets, the web inspector in headless Chromium
#               and the browser test of real-time chat notifications (creates tests/sdk/python/.venv,
#               tests/sdk/js/node_modules, tests/browser/.venv and tests/realtime's venv and
#               node_modules; installs Debian's chromium when it is missing)

CARGO ?= cargo

.PHONY: run test test-rust test-sdk test-browser test-realtime lint fmt build release container-check bench bench-anchors bench-startup

# Flags for `make run`, e.g. ARGS="--fixtures fixtures/ci-starter.yaml --log-level debug".
ARGS ?=

# The first build compiles about 300 crates (several minutes); later ones take seconds, and the
# emulator itself starts in milliseconds. cargo prints its progress on stderr.
run:
	@[ -x target/release/acs-emulator ] || echo "make run: first build of the release binary; this takes a few minutes, later starts are instant"
	$(CARGO) run --release -- $(ARGS)

build:
	$(CARGO) build

release:
	$(CARGO) build --release

test: lint test-rust test-sdk test-browser test-realtime

# Short panics (no backtrace): a CI log excerpt then shows the failed assertion and its values
# instead of thirty frames. Run `cargo test` directly for backtraces.
test-rust:
	RUST_BACKTRACE=0 $(CARGO) test --all-targets

# The SDK suites drive the real binary, then the README's snippets run as written (tests/sdk/readme);
# run.sh installs the pinned SDKs locally on first use.
test-sdk: build
	ACS_EMULATOR_BIN=$(CURDIR)/target/debug/acs-emulator bash tests/sdk/run.sh

# The web inspector in headless Chromium (Debian's chromium, driven by Playwright's Python
# library); run.sh installs chromium (apt-get, as root) and its venv (tests/browser/.venv) on
# first use. Screenshots of every page land in tests/browser/artifacts/.
test-browser: build
	ACS_EMULATOR_BIN=$(CURDIR)/target/debug/acs-emulator bash tests/browser/run.sh

# Real-time chat notifications in a real browser: a page bundling the unmodified browser Chat SDK,
# on another origin, in headless Chromium (tests/realtime/run.sh installs Debian's chromium when
# /usr/bin/chromium is missing, the page's npm packages and a venv with playwright).
test-realtime: build
	ACS_EMULATOR_BIN=$(CURDIR)/target/debug/acs-emulator bash tests/realtime/run.sh

# The module graph: no import cycle between src/'s top-level modules, each importing only
# lower layers (scripts/module-graph.py, docs/ARCHITECTURE.md).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	python3 scripts/module-graph.py

fmt:
	$(CARGO) fmt --all

# Builds the Dockerfile with rootful podman, runs it, checks health and one signed request (root only).
container-check:
	bash scripts/container-check.sh

# Throughput, latency and CPU per request side by side with the anchors (bench/anchors), page
# latency, memory per item and start-up (needs wrk; about 10 minutes); see BENCHMARKS.md.
# Options for bench/load.py go in BENCH_ARGS, e.g. BENCH_ARGS="--rounds 5 --memory-items 0".
BENCH_ARGS ?=
bench: release bench-anchors
	python3 bench/load.py --anchors $(CURDIR)/target/bench-anchors/release $(BENCH_ARGS)

# The anchors: a crate of their own, built into target/bench-anchors (never part of `cargo test`).
bench-anchors:
	$(CARGO) build --release --manifest-path bench/anchors/Cargo.toml --target-dir target/bench-anchors

# Start-up time and idle memory of the release binary.
bench-startup: release
	python3 bench/startup.py
