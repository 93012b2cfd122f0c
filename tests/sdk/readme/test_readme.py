"""The README's Quick start and "Using it from the SDKs" snippets, run as a user would run them.

Every fenced block of those two sections is read from README.md, in order:

- ``text``: the sample ready block. Each of its lines (up to ``...``) is a line of the real one.
- ``sh`` blocks that build (``make``, ``cargo``): ``make -n`` checks that the Makefile takes the
  ``make`` lines as written; nothing is built here (``make test`` has built the emulator).
- ``sh`` blocks that install (``pip install``, ``npm install``, ``python3 -m venv``): not run (no
  downloads in a test); every package they name must be in the SDK suites' environments, which
  stand in for the user's.
- ``python`` / ``js`` blocks after "Save as `NAME`": written to NAME in a fresh folder.
- every other ``sh`` block: run with ``bash -e`` in that folder, with the Python SDK suite's venv
  first on the PATH and the JS suite's ``node_modules`` beside the files, and with none of the
  trust variables set beforehand: only what the snippet exports counts.

The emulator runs on free ports and writes its certificate and CA bundle to its default paths (the
temp folder, named after the port), as for a user. The README's ``127.0.0.1:8443`` and
``127.0.0.1:8080`` and the file names with ``8443`` are replaced by the real ones; nothing else is.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests" / "sdk" / "python"))
from acs_emulator import Emulator  # noqa: E402

NODE_MODULES = REPO / "tests" / "sdk" / "js" / "node_modules"
SECTIONS = ("Quick start", "Using it from the SDKs")
# Variables that decide whom a client trusts: cleared, so that only the snippets set them.
TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


# ---------------------------------------------------------------------------------- README
class Block:
    def __init__(self, lang: str, code: str, before: str):
        self.lang, self.code, self.before = lang, code, before

    def commands(self) -> list[str]:
        return [line.strip() for line in self.code.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    def __repr__(self) -> str:
        return f"```{self.lang} after {self.before!r}"


def readme_blocks() -> list[Block]:
    """The fenced blocks of SECTIONS, each with the last line of text before it."""
    blocks: list[Block] = []
    section = None
    fence: str | None = None
    code: list[str] = []
    before = ""
    for line in (REPO / "README.md").read_text().splitlines():
        if fence is None and line.startswith("## "):
            section = line[3:].strip()
            continue
        if section not in SECTIONS:
            continue
        if line.startswith("```"):
            if fence is None:
                fence, code = line[3:].strip(), []
            else:
                blocks.append(Block(fence, "\n".join(code) + "\n", before))
                fence = None
            continue
        if fence is not None:
            code.append(line)
        elif line.strip():
            before = line.strip()
    assert fence is None, "an unclosed code block in the README"
    return blocks


BLOCKS = readme_blocks()


def kind(block: Block) -> str:
    if block.lang in ("python", "js"):
        return "file"
    if block.lang == "text":
        return "banner"
    assert block.lang == "sh", f"unexpected block {block}"
    commands = block.commands()
    if any(re.search(r"\bpip install\b|\bnpm install\b|-m venv\b", c) for c in commands):
        return "install"
    if all(c.split()[0] in ("make", "cargo", "git") for c in commands):
        return "build"
    return "run"


def saved_name(block: Block) -> str:
    match = re.search(r"[Ss]ave as `([^`]+)`", block.before)
    assert match, f"{block}: a code block to save needs 'Save as `NAME`' before it"
    return match.group(1)


# ---------------------------------------------------------------------------------- emulator
@pytest.fixture(scope="module")
def emulator():
    emulator = Emulator(default_paths=True).start()
    deadline = time.monotonic() + 10
    while "Stop with" not in emulator.stdout() and time.monotonic() < deadline:
        time.sleep(0.02)
    yield emulator
    emulator.stop()


def port_of(endpoint: str) -> str:
    return endpoint.rstrip("/").rsplit(":", 1)[1]


def localize(text: str, emulator: Emulator) -> str:
    """The README's default ports and default file names, replaced by this emulator's."""
    https, http = port_of(emulator.https_endpoint), port_of(emulator.http_endpoint)
    temp = tempfile.gettempdir()
    return (
        text.replace("127.0.0.1:8443", f"127.0.0.1:{https}")
        .replace("127.0.0.1:8080", f"127.0.0.1:{http}")
        .replace("/tmp/acs-emulator/cert-8443.pem", f"{temp}/acs-emulator/cert-{https}.pem")
        .replace("/tmp/acs-emulator/ca-bundle-8443.pem", f"{temp}/acs-emulator/ca-bundle-{https}.pem")
    )


def certificates(pem_text: str) -> set[bytes]:
    return {
        ssl.PEM_cert_to_DER_cert(match.group(0))
        for match in re.finditer(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem_text, re.S)
    }


# ---------------------------------------------------------------------------------- tests
def test_the_sections_have_the_expected_snippets():
    kinds = [kind(b) for b in BLOCKS]
    assert kinds.count("banner") == 1, BLOCKS
    assert [b.lang for b in BLOCKS if kind(b) == "file"] == ["python", "js"], BLOCKS
    assert kinds.count("run") == 2, BLOCKS


def test_the_ready_block_sample_is_what_the_emulator_prints(emulator):
    [sample] = [b for b in BLOCKS if kind(b) == "banner"]
    printed = [line.rstrip() for line in emulator.stdout().splitlines()]
    for line in localize(sample.code, emulator).splitlines():
        if line.strip() == "...":
            break
        if line.startswith("acs-emulator "):
            assert printed[0].startswith("acs-emulator ") and printed[0].endswith(" is ready"), printed
            continue
        assert line.rstrip() in printed, f"{line!r} is not in the ready block:\n" + "\n".join(printed)
    # The sample's paths are the defaults: the temp folder, named after the HTTPS port.
    port = port_of(emulator.https_endpoint)
    assert emulator.bundle_path == f"{tempfile.gettempdir()}/acs-emulator/ca-bundle-{port}.pem"


def test_the_make_lines_work_as_written():
    for block in (b for b in BLOCKS if kind(b) == "build"):
        for command in block.commands():
            if command.startswith("make"):
                args = shlex.split(command)[1:]
                done = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True)
                assert done.returncode == 0, f"{command}: {done.stderr}"
                if any(a.startswith("ARGS=") for a in args):
                    flags = next(a for a in args if a.startswith("ARGS="))[5:]
                    assert f"-- {flags}" in done.stdout, done.stdout


def test_the_packages_to_install_are_the_tested_ones():
    for block in (b for b in BLOCKS if kind(b) == "install"):
        for command in block.commands():
            for part in command.split("&&"):
                words = shlex.split(part)
                if words[:2] == ["pip", "install"]:
                    for package in words[2:]:
                        assert metadata.version(package), package
                elif words[:2] == ["npm", "install"]:
                    for package in words[2:]:
                        assert (NODE_MODULES / package / "package.json").is_file(), package


@pytest.fixture
def workdir(tmp_path, emulator):
    """A fresh folder with the snippets saved in it, as the README says, and node_modules."""
    for block in (b for b in BLOCKS if kind(b) == "file"):
        (tmp_path / saved_name(block)).write_text(localize(block.code, emulator))
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    return tmp_path


def run_snippet(block: Block, emulator: Emulator, workdir: Path, check: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARIABLES and not k.startswith("ACS_EMULATOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    script = localize(block.code, emulator) + check
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{block} failed:\n{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done


def snippet_running(name: str) -> Block:
    return next(b for b in BLOCKS if kind(b) == "run" and name in b.code)


def assert_demo_output(stdout: str, emulator: Emulator) -> None:
    lines = stdout.splitlines()
    assert any(re.fullmatch(r"user: 8:acs:[0-9a-f-]+_[0-9a-f-]+", l) for l in lines), stdout
    assert "chat: hello" in lines, stdout
    assert any(re.fullmatch(r"sms: Outgoing_\S+ (True|true)", l) for l in lines), stdout
    sent = emulator.sent_sms("to=%2B14255550123")
    assert [(m["from"], m["message"]) for m in sent] == [("+18005550100", "hi")], sent


# The exports' bundle, checked in the same shell: it holds the emulator's certificate and every
# root of the system bundle, so pip and any other HTTPS client keep verifying public servers.
TRUST_CHECK = """
echo
python - <<'PY'
import os, re, ssl
def certs(path):
    text = open(path).read()
    return {ssl.PEM_cert_to_DER_cert(m) for m in re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)}
assert os.environ["REQUESTS_CA_BUNDLE"] == os.environ["SSL_CERT_FILE"]
bundle = certs(os.environ["REQUESTS_CA_BUNDLE"])
for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"):
    if os.path.isfile(path):
        missing = certs(path) - bundle
        assert not missing, f"{len(missing)} roots of {path} are not in the bundle"
        print("system roots in the bundle:", path)
        break
# What the default context of this process (aiohttp's) trusts: the bundle, via SSL_CERT_FILE.
loaded = {c for c in ssl.create_default_context().get_ca_certs(binary_form=True)}
assert loaded and loaded <= bundle, "SSL_CERT_FILE is not the bundle"
PY
"""


def test_the_python_snippet_runs_as_written(emulator, workdir):
    emulator.control("DELETE", "/_emulator/sms")
    done = run_snippet(snippet_running("acs_demo.py"), emulator, workdir, TRUST_CHECK)
    assert_demo_output(done.stdout, emulator)
    # The snippet's curl line printed the outbox.
    outbox = json.loads(next(l for l in done.stdout.splitlines() if l.startswith("{")))
    assert outbox["value"][0]["to"] == "+14255550123", outbox
    assert "system roots in the bundle:" in done.stdout or not any(
        os.path.isfile(p) for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
    ), done.stdout


def test_the_js_snippet_runs_as_written(emulator, workdir):
    emulator.control("DELETE", "/_emulator/sms")
    done = run_snippet(snippet_running("acs-demo.mjs"), emulator, workdir)
    assert_demo_output(done.stdout, emulator)


def test_the_bundle_holds_the_certificate_and_the_system_roots(emulator):
    bundle = Path(emulator.bundle_path).read_text()
    cert = Path(emulator.cert_path).read_text()
    assert certificates(cert) <= certificates(bundle)
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    if not system.is_file():
        pytest.skip("no Debian-style system bundle to compare with")
    # The system store may hold more (e.g. files in /etc/ssl/certs), never less.
    assert certificates(system.read_text()) <= certificates(bundle)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_in_the_readme_and_docs_resolve():
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", file.read_text(), flags=re.S), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
