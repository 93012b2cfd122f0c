#!/usr/bin/env bash
# The web inspector's browser tests: headless Chromium (Debian's package) driven by Playwright's
# Python library against the real binary.
#
#   tests/browser/run.sh [pytest args]   # against $ACS_EMULATOR_BIN (default target/debug/acs-emulator)
#
# Installs what it needs on first use: Debian's `chromium` when /usr/bin/chromium is missing
# (apt-get, as root), and a venv (tests/browser/.venv) with the pinned packages of
# requirements.txt, re-installed only when a requirements file changes. Playwright's own browser
# downloads are never used. Screenshots of every page go to tests/browser/artifacts/.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DIR/../.." && pwd)"
ACS_EMULATOR_BIN="${ACS_EMULATOR_BIN:-$REPO_ROOT/target/debug/acs-emulator}"
[[ "$ACS_EMULATOR_BIN" == /* ]] || ACS_EMULATOR_BIN="$PWD/$ACS_EMULATOR_BIN"
export ACS_EMULATOR_BIN
PYTHON="${PYTHON:-python3}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMIUM

if [[ ! -x "$ACS_EMULATOR_BIN" ]]; then
  echo "acs-emulator binary not found at $ACS_EMULATOR_BIN: run 'cargo build' first (or set ACS_EMULATOR_BIN)." >&2
  exit 1
fi

if [[ ! -x "$CHROMIUM" ]]; then
  echo "==== Installing Debian's chromium ===="
  if [[ "$(id -u)" != 0 ]]; then
    echo "chromium is missing and this is not root: run 'apt-get install -y --no-install-recommends chromium' (or set CHROMIUM)." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

venv="$DIR/.venv"
stamp="$venv/.requirements.sha256"
want="$({ "$PYTHON" -c 'import sys; print(sys.version)'; cat "$DIR/requirements.txt" "$DIR/../sdk/python/requirements.txt"; } | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "==== Installing the browser tests' Python packages ===="
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$DIR/requirements.txt"
  echo "$want" >"$stamp"
fi

echo "==== Browser tests (Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}')) against $ACS_EMULATOR_BIN ===="
cd "$DIR"
exec "$venv/bin/python" -m pytest -q "$@"
