"""pytest wiring for the web inspector's browser tests: one real acs-emulator (started with the
SDK suite's ``acs_emulator.Emulator``) and Debian's Chromium driven by Playwright.

The emulator starts in ``pytest_sessionstart`` so that the Azure SDKs trust its CA bundle through
``REQUESTS_CA_BUNDLE`` (see tests/sdk/python/conftest.py). Chromium is the system one
(``/usr/bin/chromium``, or ``$CHROMIUM``): Playwright never downloads a browser here.

Every page a test opens records its console errors and uncaught exceptions; the ``page`` fixture
fails the test if any appeared (tests that expect some blocked content say which, see
``allow_console``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "sdk" / "python"))

from acs_emulator import Emulator, EmulatorStartError  # noqa: E402

ARTIFACTS = HERE / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_emulator: Emulator | None = None
_saved_env: dict[str, str | None] = {}


def _set_env(name: str, value: str) -> None:
    _saved_env.setdefault(name, os.environ.get(name))
    os.environ[name] = value


def pytest_sessionstart(session: pytest.Session) -> None:
    global _emulator
    try:
        _emulator = Emulator().start()
    except EmulatorStartError as err:
        pytest.exit(str(err), returncode=pytest.ExitCode.INTERNAL_ERROR)
    _set_env("REQUESTS_CA_BUNDLE", _emulator.bundle_path)
    _set_env("SSL_CERT_FILE", _emulator.bundle_path)
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    _set_env("NO_PROXY", no_proxy)
    _set_env("no_proxy", no_proxy)
    ARTIFACTS.mkdir(exist_ok=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _emulator
    if _emulator is not None:
        _emulator.stop()
        _emulator = None
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def emulator() -> Emulator:
    assert _emulator is not None
    return _emulator


@pytest.fixture(autouse=True)
def _fresh_state(emulator: Emulator):
    if not emulator.is_running():
        pytest.fail("acs-emulator is no longer running.\n" + emulator.output_tail())
    emulator.reset()
    status, _ = emulator.control("DELETE", "/_emulator/journal")
    assert status in (200, 204)
    yield


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.exit(f"Chromium not found at {CHROMIUM}: run tests/browser/run.sh (it installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Console:
    """What a page reported: console errors and uncaught exceptions."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


def allow_console(console: Console, *patterns: str) -> None:
    """Console errors a test provokes on purpose (content the CSP or the sandbox blocks)."""
    console.allowed.extend(re.compile(p) for p in patterns)


@pytest.fixture
def page(browser, emulator: Emulator, console: Console):
    context = browser.new_context(viewport={"width": 1366, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and console.errors.append(f"console: {msg.text}"))
    page.on("pageerror", lambda err: console.errors.append(f"pageerror: {err}"))
    page.set_default_timeout(5000)
    yield page
    context.close()
    assert console.unexpected() == [], "the page reported errors"


def open_page(page, emulator: Emulator, name: str):
    """Opens the inspector on one page and waits until its live stream is connected."""
    page.goto(emulator.http_endpoint.rstrip("/") + f"/_emulator/ui/#/{name}")
    page.locator("#live.on").wait_for()
    page.locator("main h1").wait_for()
    return page


def screenshot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
