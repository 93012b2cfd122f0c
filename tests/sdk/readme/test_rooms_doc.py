"""docs/rooms.md's SDK snippets, run as a user would run them (as test_email_doc.py does for
docs/email.md), and its fixture loaded as a fixture."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_email_doc import NODE_MODULES, TRUST_VARIABLES, localize

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "sdk" / "python"))
from acs_emulator import Emulator  # noqa: E402

PAGE = (REPO / "docs" / "rooms.md").read_text()


def blocks() -> list[tuple[str, str, str]]:
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


def test_the_sdk_snippets_run_as_written(emulator, tmp_path):
    saved = set()
    for lang, code, before in blocks():
        match = re.search(r"Save as `([^`]+)`", before)
        if lang in ("python", "js") and match:
            (tmp_path / match.group(1)).write_text(localize(code, emulator))
            saved.add(match.group(1))
    assert saved == {"rooms_demo.py", "rooms-demo.mjs"}, saved
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    [script] = [code for lang, code, _ in blocks() if lang == "sh" and "rooms_demo.py" in code]
    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARIABLES and not k.startswith("ACS_EMULATOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    done = subprocess.run(
        ["bash", "-e", "-c", localize(script, emulator)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert any(re.fullmatch(r"room: \d{17} Presenter", line) for line in lines), done.stdout
    assert any(re.fullmatch(r"room: \d{17} Consumer", line) for line in lines), done.stdout


def test_the_documented_fixture_loads():
    [fixture] = [code for lang, code, _ in blocks() if lang == "yaml"]
    with Emulator() as emulator:
        status, body = emulator.load_fixture(fixture)
    assert status == 201, body
    assert body["rooms"] == 1, body
