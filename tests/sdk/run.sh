#!/usr/bin/env bash
# Official-SDK test suites for acs-emulator: Python (pytest) and JavaScript (node --test).
#
#   tests/sdk/run.sh            # every suite against $ACS_EMULATOR_BIN (default target/debug/acs-emulator)
#   tests/sdk/run.sh python     # only the Python suite
#   tests/sdk/run.sh js         # only the JS suite
#   tests/sdk/run.sh readme     # only the README's snippets and the container recipes (readme/),
#                               # which run with both suites' dependencies
#
# Needs only python3 (>= 3.11, with venv + pip) and node (>= 20) + npm. Dependencies are
# installed locally (tests/sdk/python/.venv, tests/sdk/js/node_modules) and re-installed only
# when requirements.txt / package-lock.json change.
#
# Trust: installs run with the caller's environment untouched (pip/npm need the system CA
# bundle that the machine may export). Only the test processes get the emulator certificate:
# the pytest conftest sets REQUESTS_CA_BUNDLE / SSL_CERT_FILE, and js/run.mjs sets
# NODE_EXTRA_CA_CERTS for the `node --test` child.
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SDK_DIR/../.." && pwd)"
ACS_EMULATOR_BIN="${ACS_EMULATOR_BIN:-$REPO_ROOT/target/debug/acs-emulator}"
# Absolute, since the suites run from their own folders.
[[ "$ACS_EMULATOR_BIN" == /* ]] || ACS_EMULATOR_BIN="$PWD/$ACS_EMULATOR_BIN"
export ACS_EMULATOR_BIN
PYTHON="${PYTHON:-python3}"

suites=("$@")
[[ ${#suites[@]} -eq 0 ]] && suites=(python js readme)

section() { printf '\n==== %s ====\n' "$*"; }

hash_of() { # sha256 of the given files plus a salt string
  local salt="$1"; shift
  { printf '%s\n' "$salt"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

if [[ ! -x "$ACS_EMULATOR_BIN" ]]; then
  echo "acs-emulator binary not found at $ACS_EMULATOR_BIN: run 'cargo build' in $REPO_ROOT first (or set ACS_EMULATOR_BIN)." >&2
  exit 1
fi

setup_python() {
  local dir="$SDK_DIR/python" venv="$SDK_DIR/python/.venv"
  local stamp="$venv/.requirements.sha256" want
  want="$(hash_of "$("$PYTHON" -c 'import sys; print(sys.version)')" "$dir/requirements.txt")"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "python deps up to date ($venv)"
    return
  fi
  section "Installing Python SDK test dependencies"
  # Start from a clean venv so that packages dropped from requirements.txt disappear too.
  rm -rf "$venv"
  if ! "$PYTHON" -m venv "$venv"; then
    echo "'$PYTHON -m venv' failed: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)." >&2
    return 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
  echo "$want" >"$stamp"
}

setup_js() {
  local dir="$SDK_DIR/js" stamp="$SDK_DIR/js/node_modules/.acs-sdk-tests.sha256" want
  want="$(hash_of "$(node --version)" "$dir/package.json" "$dir/package-lock.json")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "js deps up to date ($dir/node_modules)"
    return
  fi
  section "Installing JS SDK test dependencies (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

run_python() {
  setup_python
  section "Python SDK tests (pytest) against $ACS_EMULATOR_BIN"
  (cd "$SDK_DIR/python" && .venv/bin/python -m pytest -q)
}

run_js() {
  setup_js
  section "JS SDK tests (node --test) against $ACS_EMULATOR_BIN"
  (cd "$SDK_DIR/js" && node run.mjs)
}

run_readme() {
  setup_python
  setup_js
  section "README snippets and container recipes (pytest) against $ACS_EMULATOR_BIN"
  (cd "$SDK_DIR/readme" && ../python/.venv/bin/python -m pytest -q)
}

declare -A result=()
status=0
for suite in "${suites[@]}"; do
  case "$suite" in
    python | js | readme) ;;
    *) echo "unknown suite '$suite' (expected: python, js, readme)" >&2; exit 2 ;;
  esac
  start=$SECONDS
  # A subshell with errexit on: any failing step ends this suite (a failure inside an
  # `if` condition would not), while the other suite still runs.
  set +e
  (set -e; "run_$suite")
  rc=$?
  set -e
  if [[ $rc -eq 0 ]]; then
    result[$suite]="passed"
  else
    result[$suite]="FAILED (exit $rc)"
    status=1
  fi
  result[$suite]+=" ($((SECONDS - start)) s)"
done

section "SDK test summary"
for suite in "${suites[@]}"; do
  printf '  %-7s %s\n' "$suite" "${result[$suite]}"
done
exit "$status"
