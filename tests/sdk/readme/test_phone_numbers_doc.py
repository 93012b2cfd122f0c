"""docs/phone-numbers.md's SDK snippets, run as a user would run them.

The page's ``python`` and ``js`` blocks after "Save as `NAME`" are written to NAME in a fresh
folder, the ``sh`` block that runs them is run with ``bash -e`` there (the Python SDK suite's venv
first on the PATH, the JS suite's ``node_modules`` beside the files, no trust variable set
beforehand), against an emulator with its default certificate paths; the default ports and file
names are replaced by the real ones, nothing else. The YAML block is loaded as a fixture.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "sdk" / "python"))
from acs_emulator import Emulator  # noqa: E402

PAGE = (REPO / "docs" / "phone-numbers.md").read_text()
NODE_MODULES = REPO / "tests" / "sdk" / "js" / "node_modules"
TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


def blocks() -> list[tuple[str, str, str]]:
    """Every fenced block of the page: (language, code, the last line of text before it)."""
    found, before = [], ""
    for match in re.finditer(r"(?ms)^```(\w*)\n(.*?)^```$|^([^\n]+)$", PAGE):
        if match.group(3) is not None:
            if match.group(3).strip():
                before = match.group(3).strip()
        else:
            found.append((match.group(1), match.group(2), before))
    return found


@pytest.fixture(scope="module")
def emulator():
    emulator = Emulator(default_paths=True).start()
    yield emulator
    emulator.stop()


def localize(text: str, emulator: Emulator) -> str:
    https = emulator.https_endpoint.rstrip("/").rsplit(":", 1)[1]
    http = emulator.http_endpoint.rstrip("/").rsplit(":", 1)[1]
    temp = tempfile.gettempdir()
    return (
        text.replace("127.0.0.1:8443", f"127.0.0.1:{https}")
        .replace("127.0.0.1:8080", f"127.0.0.1:{http}")
        .replace("/tmp/acs-emulator/ca-bundle-8443.pem", f"{temp}/acs-emulator/ca-bundle-{https}.pem")
    )


def test_the_sdk_snippets_run_as_written(emulator, tmp_path):
    saved = {}
    for lang, code, before in blocks():
        match = re.search(r"Save as `([^`]+)`", before)
        if lang in ("python", "js") and match:
            (tmp_path / match.group(1)).write_text(localize(code, emulator))
            saved[match.group(1)] = code
    assert set(saved) == {"numbers_demo.py", "sip-demo.mjs"}, saved
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    [script] = [code for lang, code, _ in blocks() if lang == "sh" and "numbers_demo.py" in code]

    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARIABLES and not k.startswith("ACS_EMULATOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    done = subprocess.run(
        ["bash", "-e", "-c", localize(script, emulator)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert lines == [
        "bought: +18335550100",
        "sms: True",
        "after release: 401",
        r"route: US ^\+1[0-9]{10}$ sbc.contoso.com",
    ], done.stdout


def test_the_documented_fixtures_load():
    available, purchased = [code for lang, code, _ in blocks() if lang == "yaml"]
    with Emulator() as emulator:
        status, body = emulator.load_fixture(available)
        assert status == 201, body
        assert body["availablePhoneNumbers"] == 1 and body["rules"] == 1, body
        status, body = emulator.load_fixture(purchased)
        assert status == 201, body
        assert body["purchasedPhoneNumbers"] == 1, body
        owned = [n["phoneNumber"] for n in emulator.get_json("/_emulator/state?format=json")["purchasedPhoneNumbers"]]
    assert owned == ["+18335550123"]
