"""The Email API checked against the service's own OpenAPI definitions (Azure/azure-rest-api-specs,
``specification/communication/data-plane/Email/stable/<version>``; see specs/README.md).

Every ``SendEmail`` example request of the stable spec folders is sent to the emulator as written
(its sender's domain linked with ``--email-domain``, its ``operation-id`` as the ``Operation-Id``
header), through the official SDK's pipeline (``EmailClient.send_request``). Every answer is
validated against the spec: the 202 and every poll against ``EmailSendResult`` with the headers
the spec declares (``Operation-Location``; ``retry-after`` an int32 only while unfinished), a
failed operation's ``error`` against ``ErrorDetail`` (as the ``GetOperationStatusReturnsFailedTerminalStatus``
example has it), and error answers against the common ``ErrorResponse`` with ``x-ms-error-code``
equal to the body's code.

The spec files are read from ``$ACS_EMULATOR_SPECS`` (default: the repository's ``specs/``).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from acs_emulator import Emulator

REPO = Path(__file__).resolve().parents[3]
SPECS = Path(os.environ.get("ACS_EMULATOR_SPECS", REPO / "specs"))
VERSIONS = ["2023-03-31", "2025-09-01"]
COMMON = "../../../../../common-types/data-plane/v1/types.json"


def spec_path(version: str) -> Path:
    return SPECS / "Email" / version / "CommunicationServicesEmail.json"


def read(path: Path) -> dict:
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: the Email spec copies belong under {SPECS} "
            "(specs/README.md lists each file and the commit it comes from)"
        )
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The spec documents, their `$ref`s to the common types resolved to the copy under specs/."""
    common = read(SPECS / "common-types" / "data-plane" / "v1" / "types.json")
    resources = [("spec:common-types", Resource.from_contents(common, default_specification=DRAFT4))]
    for version in VERSIONS:
        text = json.dumps(read(spec_path(version))).replace(f"{COMMON}#", "spec:common-types#")
        resources.append((f"spec:email-{version}", Resource.from_contents(json.loads(text), default_specification=DRAFT4)))
    return Registry().with_resources(resources)


def validator(registry: Registry, version: str, definition: str) -> Draft4Validator:
    uri = "spec:common-types" if definition.startswith("Error") else f"spec:email-{version}"
    return Draft4Validator({"$ref": f"{uri}#/definitions/{definition}"}, registry=registry)


def assert_valid(registry: Registry, version: str, definition: str, instance) -> None:
    errors = sorted(validator(registry, version, definition).iter_errors(instance), key=str)
    assert not errors, f"{definition}: {[e.message for e in errors]}\n{json.dumps(instance, indent=2)}"


def examples(version: str, prefix: str) -> list[Path]:
    folder = SPECS / "Email" / version / "examples"
    return sorted(folder.glob(f"{prefix}*.json")) if folder.is_dir() else []


FAILURES = """
rules:
  - name: drop
    match: {operation: Email.Send, to: "*@dropped.test"}
    email: {result: {status: Failed}}
"""


@pytest.fixture(scope="module")
def spec_emulator(tmp_path_factory) -> Emulator:
    """An emulator that links the examples' sender domain, with a rule that fails sends."""
    fixture = tmp_path_factory.mktemp("spec") / "failures.yaml"
    fixture.write_text(FAILURES)
    with Emulator(extra_args=("--email-domain", "domain.com", "--fixtures", str(fixture))) as emulator:
        yield emulator


def client(emulator: Emulator):
    from azure.communication.email import EmailClient
    from azure.core.credentials import AzureKeyCredential

    return EmailClient(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))


def call(emulator: Emulator, method: str, path: str, body=None, headers=None):
    from azure.core.rest import HttpRequest

    request = HttpRequest(method, path, json=body, headers=headers or {})
    response = client(emulator).send_request(request)
    return response.status_code, response.headers, (response.json() if response.content else None)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_example_requests_are_valid_email_messages(registry, version):
    found = examples(version, "SendEmail")
    assert found, f"no SendEmail example under {SPECS / 'Email' / version / 'examples'}"
    for path in found:
        assert_valid(registry, version, "EmailMessage", json.loads(path.read_text())["parameters"]["emailMessage"])


@pytest.mark.parametrize("version", VERSIONS)
def test_the_example_sends_answer_and_poll_as_the_spec_says(registry, spec_emulator: Emulator, version):
    for path in examples(version, "SendEmail"):
        # Examples of several versions may share an operation id: each starts from an empty state.
        spec_emulator.reset()
        example = json.loads(path.read_text())
        params = example["parameters"]
        operation_id = params.get("operation-id") or params.get("Operation-Id")
        status, headers, body = call(
            spec_emulator, "POST", f"/emails:send?api-version={version}", params["emailMessage"],
            {"Operation-Id": operation_id} if operation_id else None,
        )
        assert status == 202, body
        assert_valid(registry, version, "EmailSendResult", body)
        expected = example["responses"]["202"]
        assert body == expected["body"], (body, expected["body"])
        assert headers["Operation-Location"].endswith(f"/emails/operations/{body['id']}?api-version={version}")
        assert int(headers["retry-after"]) >= 1  # int32, as the spec declares

        spec_emulator.advance_clock("2s")
        status, headers, polled = call(spec_emulator, "GET", f"/emails/operations/{body['id']}?api-version={version}")
        assert status == 200
        assert_valid(registry, version, "EmailSendResult", polled)
        assert polled == {"id": body["id"], "status": "Succeeded"}
        assert "retry-after" not in headers
        # The example's message landed in the inbox as sent.
        [sent] = [e for e in spec_emulator.sent_emails() if e["id"] == body["id"]]
        assert sent["subject"] == params["emailMessage"]["content"]["subject"]
        assert len(sent["attachments"]) == len(params["emailMessage"].get("attachments", []))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_running_poll_carries_an_int32_retry_after(registry, spec_emulator: Emulator, version):
    message = {"senderAddress": "abc@domain.com", "content": {"subject": "s", "plainText": "x"},
               "recipients": {"to": [{"address": "a@example.com"}]}}
    status, _, body = call(spec_emulator, "POST", f"/emails:send?api-version={version}", message)
    assert status == 202
    status, headers, polled = call(spec_emulator, "GET", f"/emails/operations/{body['id']}?api-version={version}")
    assert status == 200
    assert_valid(registry, version, "EmailSendResult", polled)
    assert polled["status"] == "Running"
    assert 1 <= int(headers["retry-after"]) <= 2**31 - 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_failed_operation_answers_as_the_failed_example(registry, spec_emulator: Emulator, version):
    message = {"senderAddress": "abc@domain.com", "content": {"subject": "s", "plainText": "x"},
               "recipients": {"to": [{"address": "someone@dropped.test"}]}}
    status, _, body = call(spec_emulator, "POST", f"/emails:send?api-version={version}", message)
    assert status == 202
    spec_emulator.advance_clock("2s")
    status, headers, polled = call(spec_emulator, "GET", f"/emails/operations/{body['id']}?api-version={version}")
    assert status == 200
    assert_valid(registry, version, "EmailSendResult", polled)
    assert "retry-after" not in headers
    for path in examples(version, "GetOperationStatusReturnsFailedTerminalStatus"):
        expected = json.loads(path.read_text())["responses"]["200"]["body"]
        assert polled["status"] == expected["status"]
        assert polled["error"] == expected["error"]


BAD = [
    ("no subject", lambda m: m["content"].pop("subject"), 400),
    ("51 recipients", lambda m: m["recipients"].update(to=[{"address": f"u{n}@example.com"} for n in range(51)]), 400),
    ("bad address", lambda m: m["recipients"].update(to=[{"address": "nope"}]), 400),
    ("unlinked domain", lambda m: m.update(senderAddress="abc@fabrikam.com"), 404),
    ("refused attachment type", lambda m: m.update(attachments=[{"name": "a.exe", "contentType": "application/x-msdownload",
                                                                  "contentInBase64": "TVo="}]), 400),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case,edit,expected", BAD, ids=[b[0] for b in BAD])
def test_errors_are_error_responses_with_x_ms_error_code(registry, spec_emulator: Emulator, version, case, edit, expected):
    message = {"senderAddress": "abc@domain.com", "content": {"subject": "s", "plainText": "x"},
               "recipients": {"to": [{"address": "a@example.com"}]}}
    message = copy.deepcopy(message)
    edit(message)
    status, headers, body = call(spec_emulator, "POST", f"/emails:send?api-version={version}", message)
    assert status == expected, body
    assert_valid(registry, version, "ErrorResponse", body)
    assert headers["x-ms-error-code"] == body["error"]["code"]
    status, headers, body = call(spec_emulator, "GET", f"/emails/operations/{'0' * 8}-0000-0000-0000-{'0' * 12}?api-version={version}")
    assert status == 404
    assert_valid(registry, version, "ErrorResponse", body)
    assert headers["x-ms-error-code"] == body["error"]["code"]
