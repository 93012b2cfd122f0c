#!/usr/bin/env bash
# The browser end-to-end test of real-time chat notifications (see test_realtime.py).
#
#   tests/realtime/run.sh      # against $ACS_EMULATOR_BIN (default target/debug/acs-emulator)
#
# Setup, each step only when needed:
# - Chromium: Debian's `chromium` package (apt-get, as root) when /usr/bin/chromium is missing
#   (or $CHROMIUM names another binary). Playwright drives it; it never downloads a browser.
# - node_modules from package-lock.json (the pinned @azure/communication-chat and
#   @azure/communication-common, and esbuild), then the page is bundled into build/.
# - A venv (.venv) with the pinned Python SDKs, pytest and playwright (requirements.txt).
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DIR/../.." && pwd)"
ACS_EMULATOR_BIN="${ACS_EMULATOR_BIN:-$REPO_ROOT/target/debug/acs-emulator}"
[[ "$ACS_EMULATOR_BIN" == /* ]] || ACS_EMULATOR_BIN="$PWD/$ACS_EMULATOR_BIN"
export ACS_EMULATOR_BIN
PYTHON="${PYTHON:-python3}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

section() { printf '\n==== %s ====\n' "$*"; }
hash_of() { local salt="$1"; shift; { printf '%s\n' "$salt"; cat "$@"; } | sha256sum | cut -d' ' -f1; }

if [[ ! -x "$ACS_EMULATOR_BIN" ]]; then
  echo "acs-emulator binary not found at $ACS_EMULATOR_BIN: run 'cargo build' first (or set ACS_EMULATOR_BIN)." >&2
  exit 1
fi

if [[ ! -x "$CHROMIUM" ]]; then
  section "Installing Chromium (Debian package)"
  if [[ "$(id -u)" != 0 ]]; then
    echo "$CHROMIUM is missing: install Chromium (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

stamp="$DIR/node_modules/.lock.sha256"
want="$(hash_of "$(node --version)" "$DIR/package-lock.json")"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  section "Installing the page's packages (npm ci)"
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
mkdir -p "$DIR/build"
cp "$DIR/page/index.html" "$DIR/build/index.html"
(cd "$DIR" && ./node_modules/.bin/esbuild page/src.js --bundle --platform=browser --format=esm \
  --outfile=build/bundle.js --log-level=warning)

venv="$DIR/.venv"
stamp="$venv/.requirements.sha256"
want="$(hash_of "$("$PYTHON" -c 'import sys; print(sys.version)')" "$DIR/requirements.txt" "$DIR/../sdk/python/requirements.txt")"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  section "Installing the test's Python packages"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  (cd "$DIR" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt)
  echo "$want" >"$stamp"
fi

section "Browser real-time notifications (headless Chromium)"
cd "$DIR"
# Playwright must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
exec "$venv/bin/python" -m pytest -q "$@"
