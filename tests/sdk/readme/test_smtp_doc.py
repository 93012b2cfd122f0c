"""docs/email.md's SMTP relay snippet, run as a user would run it.

The page's ``python`` block after "Save it as `smtp_demo.py`" is written to that file in a fresh
folder and run with the Python SDK suite's interpreter (no trust variable set: the snippet names
the CA bundle itself), against an emulator started as the page says (``--smtp-port``, here 0)
with its default certificate paths; the page's SMTP and HTTPS ports are replaced by the real
ones, nothing else. The message must then be in the inbox, attachment included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "sdk" / "python"))
from acs_emulator import Emulator  # noqa: E402

PAGE = (REPO / "docs" / "email.md").read_text()


def snippet() -> str:
    [code] = re.findall(r"(?ms)Save it as `smtp_demo\.py`:\n\n```python\n(.*?)^```$", PAGE)
    return code


def test_the_smtp_snippet_sends_into_the_inbox(tmp_path):
    assert "acs-emulator --smtp-port 2525" in PAGE
    with Emulator(extra_args=("--smtp-port", "0"), default_paths=True) as emulator:
        https = emulator.https_endpoint.rstrip("/").rsplit(":", 1)[1]
        smtp = emulator.get_json("/_emulator/health")["smtpPort"]
        code = (
            snippet()
            .replace('"127.0.0.1", 2525', f'"127.0.0.1", {smtp}')
            .replace("/tmp/acs-emulator/ca-bundle-8443.pem", f"{tempfile.gettempdir()}/acs-emulator/ca-bundle-{https}.pem")
        )
        (tmp_path / "smtp_demo.py").write_text(code)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EMULATOR_")}
        done = subprocess.run(
            [sys.executable, "smtp_demo.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert done.stdout.strip() == "sent over SMTP"
        [sent] = emulator.sent_emails("subject=Hello+over+SMTP")
        assert sent["via"] == "smtp"
        assert sent["recipients"]["to"] == [{"address": "alice@example.com", "displayName": "Alice"}]
        assert [a["name"] for a in sent["attachments"]] == ["invoice.pdf"]
