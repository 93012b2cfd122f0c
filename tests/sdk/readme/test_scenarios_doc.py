"""The pytest fixture of docs/scenarios.md, used as the page says, with fixtures/throttling.yaml.

The page's conftest.py and test module are saved as they are (with the emulator's real control
port), next to a `sms_client` fixture of the kind a user writes and three more tests: one that sets
up nothing (it must pass although throttling.yaml's `expect` is not met in it), one that names the
rule but never triggers it, and one with a misspelt rule name (both must fail).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "sdk" / "python"))
from acs_emulator import Emulator  # noqa: E402

PAGE = (REPO / "docs" / "scenarios.md").read_text()

USER_FIXTURE = '''

@pytest.fixture
def sms_client():
    from azure.core.credentials import AzureKeyCredential
    from azure.communication.sms import SmsClient
    return SmsClient("{http}", AzureKeyCredential("{key}"))
'''

MORE_TESTS = '''

def test_that_sets_up_nothing():
    pass


@pytest.mark.acs_expect("second-send-throttled")
def test_that_forgets_to_send():
    pass


@pytest.mark.acs_expect("second-send-throtled")
def test_with_a_typo(sms_client):
    pass
'''


@pytest.fixture(scope="module")
def emulator():
    emulator = Emulator(extra_args=("--fixtures", str(REPO / "fixtures" / "throttling.yaml"))).start()
    yield emulator
    emulator.stop()


def test_the_documented_fixture_verifies_only_what_a_test_set_up(emulator, tmp_path):
    section = PAGE.split("A pytest fixture that gives each test a clean world", 1)[1]
    conftest, test_module = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    assert conftest.startswith("# conftest.py") and test_module.startswith("# test_sms.py")
    http = emulator.http_endpoint.rstrip("/")
    conftest = conftest.replace("http://127.0.0.1:8080", http)
    (tmp_path / "conftest.py").write_text(conftest + USER_FIXTURE.format(http=http, key=emulator.access_key))
    (tmp_path / "test_sms.py").write_text(test_module + MORE_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EMULATOR_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio", "-rA"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = done.stdout + done.stderr
    # A failed check in a fixture's teardown is reported as an ERROR of that test.
    reported = re.findall(r"^(PASSED|FAILED|ERROR) test_sms.py::(\w+)", out, re.M)
    failed = {name for verdict, name in reported if verdict != "PASSED"}
    passed = {name for verdict, name in reported if verdict == "PASSED"} - failed
    assert passed == {"test_a_throttled_send_is_retried", "test_that_sets_up_nothing"}, out
    assert failed == {"test_that_forgets_to_send", "test_with_a_typo"}, out
    assert "second-send-throttled" in out and "404" in out, out
