"""Start and stop a real acs-emulator process for the SDK tests.

The emulator is started with ``--port 0 --http-port 0`` (free ports) and announces
itself on stdout with a block such as::

    acs-emulator 0.1.0 is ready
      HTTPS endpoint     https://127.0.0.1:43121/
      HTTP endpoint      http://127.0.0.1:39877/
      Connection string  endpoint=https://127.0.0.1:43121/;accesskey=...
      TLS certificate    /tmp/x/cert.pem
      CA bundle          /tmp/x/ca-bundle.pem

This module only parses that block; it never talks TLS itself. The endpoints
below are kept exactly as printed (with the trailing slash).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BINARY = REPO_ROOT / "target" / "debug" / "acs-emulator"

# One regex per line of the readiness block. The block is complete once all matched.
_READY_PATTERNS = {
    "https_endpoint": re.compile(r"HTTPS endpoint\s+(\S+)"),
    "http_endpoint": re.compile(r"HTTP endpoint\s+(\S+)"),
    "connection_string": re.compile(r"Connection string\s+(\S+)"),
    "cert_path": re.compile(r"TLS certificate\s+(\S+)"),
    # The certificate plus the machine's trusted roots: what the tests trust, as a user would.
    "bundle_path": re.compile(r"CA bundle\s+(\S+)"),
}

# Colour codes, in case the emulator ever decorates its banner.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# urllib must reach 127.0.0.1 directly even if the machine exports HTTP(S)_PROXY.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorStartError(RuntimeError):
    """The emulator exited early or did not print its readiness block in time."""


def emulator_binary() -> Path:
    """The binary under test: ``$ACS_EMULATOR_BIN`` or ``<repo>/target/debug/acs-emulator``."""
    return Path(os.environ.get("ACS_EMULATOR_BIN") or DEFAULT_BINARY)


def access_key_from(connection_string: str) -> str:
    """Extract ``accesskey`` from ``endpoint=...;accesskey=...`` (the key itself may contain '=')."""
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accesskey":
            return value
    raise ValueError(f"no accesskey in connection string {connection_string!r}")


class Emulator:
    """One running acs-emulator process.

    Attributes (available after :meth:`start`): ``https_endpoint``, ``http_endpoint``,
    ``connection_string``, ``access_key``, ``cert_path``, ``bundle_path``.
    """

    def __init__(self, extra_args: tuple[str, ...] = (), start_timeout: float = 20.0, default_paths: bool = False):
        """``default_paths``: let the emulator write its certificate and CA bundle where it does
        by default (the temp folder, named after the port), as for a user, instead of a private
        folder of this test run."""
        self.binary = emulator_binary()
        self.extra_args = tuple(extra_args)
        self.default_paths = default_paths
        self.start_timeout = start_timeout
        self.https_endpoint = self.http_endpoint = self.connection_string = ""
        self.access_key = self.cert_path = self.bundle_path = ""
        self._proc: subprocess.Popen[str] | None = None
        self._tmpdir: str | None = None
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._ready = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Emulator":
        if not self.binary.is_file():
            raise EmulatorStartError(
                f"emulator binary not found at {self.binary}; run `cargo build` in {REPO_ROOT} "
                "or point ACS_EMULATOR_BIN at it"
            )
        self._tmpdir = tempfile.mkdtemp(prefix="acs-emulator-sdk-")
        paths = [] if self.default_paths else [
            "--tls-cert-out", os.path.join(self._tmpdir, "cert.pem"),
            "--tls-ca-bundle-out", os.path.join(self._tmpdir, "ca-bundle.pem"),
        ]
        cmd = [
            str(self.binary),
            "--port", "0",
            "--http-port", "0",
            *paths,
            "--log-level", "warn",
            *self.extra_args,
        ]
        # The binary reads its own ACS_EMULATOR_* configuration variables (access key, resource
        # id, token lifetime, ...). Drop them all so that a developer's shell cannot change what
        # the tests expect; only the explicit command line configures this instance.
        env = {name: value for name, value in os.environ.items() if not name.startswith("ACS_EMULATOR_")}
        self._proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        # Drain both pipes for the whole life of the process so that the emulator can
        # never block on a full pipe; the stdout reader also detects the ready block.
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(timeout=0.05):
            if self._proc.poll() is not None:
                time.sleep(0.2)  # let the reader threads collect the last output
                self._cleanup_files()
                raise EmulatorStartError(
                    f"acs-emulator exited with code {self._proc.returncode} before it was ready.\n"
                    f"command: {' '.join(cmd)}\n{self.output_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(
                    f"acs-emulator did not print its ready block within {self.start_timeout:.0f} s.\n"
                    f"command: {' '.join(cmd)}\n{self.output_tail()}"
                )
        self.access_key = access_key_from(self.connection_string)
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s. Returns the exit code."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        self._cleanup_files()
        return code

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def reset(self) -> None:
        """Clear all emulator state (``POST /_emulator/reset`` over plain HTTP, no auth)."""
        req = urllib.request.Request(self.http_endpoint.rstrip("/") + "/_emulator/reset", method="POST", data=b"")
        with _NO_PROXY_OPENER.open(req, timeout=10) as resp:
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"POST /_emulator/reset answered {resp.status}")

    def sent_sms(self, query: str = "") -> list[dict]:
        """The SMS outbox (``GET /_emulator/sms?<query>`` over plain HTTP): what the emulator "sent".

        ``query`` takes the endpoint's parameters, e.g. ``"to=%2B14255550123&wait=5s&count=2"``.
        """
        url = self.http_endpoint.rstrip("/") + "/_emulator/sms" + (f"?{query}" if query else "")
        with _NO_PROXY_OPENER.open(urllib.request.Request(url), timeout=70) as resp:
            if resp.status != 200:
                raise RuntimeError(f"GET /_emulator/sms answered {resp.status}")
            return json.loads(resp.read())["value"]

    def sent_emails(self, query: str = "") -> list[dict]:
        """The email inbox (``GET /_emulator/emails?<query>`` over plain HTTP): what the emulator
        "sent". ``query`` takes the endpoint's parameters, e.g. ``"to=a@example.com&wait=5s"``.
        """
        return self.get_json("/_emulator/emails" + (f"?{query}" if query else ""))["value"]

    def raw_email(self, email_id: str) -> bytes:
        """One email as RFC 5322 bytes (``GET /_emulator/emails/{id}/raw``), for the ``email`` module."""
        url = self.http_endpoint.rstrip("/") + f"/_emulator/emails/{email_id}/raw"
        with _NO_PROXY_OPENER.open(urllib.request.Request(url), timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"GET /_emulator/emails/{email_id}/raw answered {resp.status}")
            return resp.read()

    def control(self, method: str, path: str, body=None, content_type: str = "application/json"):
        """Call a control endpoint (``/_emulator/...``) over plain HTTP; returns ``(status, parsed JSON or None)``.

        ``body`` may be a dict/list (sent as JSON), ``str`` or ``bytes`` (sent as is with
        ``content_type``). Error statuses are returned, not raised.
        """
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        req = urllib.request.Request(self.http_endpoint.rstrip("/") + path, method=method, data=data)
        if data is not None:
            req.add_header("content-type", content_type)
        try:
            with _NO_PROXY_OPENER.open(req, timeout=70) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return status, (json.loads(raw) if raw else None)

    def get_json(self, path: str):
        """``GET /_emulator/...``: the JSON body of a 200 answer (anything else raises)."""
        status, body = self.control("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        return body

    def journal(self, query: str = "") -> list[dict]:
        """The request journal (``GET /_emulator/journal?<query>``), oldest first."""
        return self.get_json("/_emulator/journal" + (f"?{query}" if query else ""))["value"]

    def load_fixture(self, text: str, *, yaml: bool = True):
        """``POST /_emulator/fixtures``; returns ``(status, body)``."""
        return self.control(
            "POST", "/_emulator/fixtures", text, content_type="application/yaml" if yaml else "application/json"
        )

    def advance_clock(self, duration: str) -> dict:
        """Move the emulator's clock forward (``POST /_emulator/clock {"advance": duration}``)."""
        status, body = self.control("POST", "/_emulator/clock", {"advance": duration})
        if status != 200:
            raise RuntimeError(f"POST /_emulator/clock answered {status}: {body}")
        return body

    def stdout(self) -> str:
        """Everything the emulator printed on stdout so far (its ready block)."""
        return "".join(self._stdout)

    def output_tail(self, max_chars: int = 8000) -> str:
        out = "".join(self._stdout)[-max_chars:]
        err = "".join(self._stderr)[-max_chars:]
        return f"--- emulator stdout ---\n{out}\n--- emulator stderr ---\n{err}"

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        found: dict[str, str] = {}
        for line in self._proc.stdout:
            self._stdout.append(line)
            if self._ready.is_set():
                continue
            plain = _ANSI_ESCAPE.sub("", line)
            for key, pattern in _READY_PATTERNS.items():
                match = pattern.search(plain)
                if match and key not in found:
                    found[key] = match.group(1)
            if len(found) == len(_READY_PATTERNS):
                for key, value in found.items():
                    setattr(self, key, value)
                self._ready.set()

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-2000]  # keep memory bounded on a chatty emulator

    def _cleanup_files(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
