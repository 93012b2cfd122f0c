"""The ACS Email API of acs-emulator, driven through the unmodified official Python SDK
(azure-communication-email 1.1.0, sync and aio clients, default poller settings).

Fixtures (conftest.py): ``emulator`` (the running process, with ``sent_emails()`` reading the
inbox and ``raw_email()`` the ``.eml``), ``email_client`` and ``async_email_client`` (each
parametrized over HTTPS + connection string and plain HTTP + AzureKeyCredential). Every test
starts from an emptied emulator, whose Azure-managed sender is DoNotReply@<resource id>.azurecomm.net.
"""

from __future__ import annotations

import base64
import email
import email.policy
import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from acs_emulator import Emulator

SENDER = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net"
TENANT = "acacacac-0000-4000-8000-00000000000a"
CLIENT_ID = "acacacac-0000-4000-8000-00000000000c"
CLIENT_SECRET = "acs-emulator-client-secret"
PDF = b"%PDF-1.4 a tiny invoice"
PNG = b"\x89PNG\r\n\x1a\n a tiny logo"


def message(*to: str, subject: str = "Welcome", **extra) -> dict:
    return {
        "senderAddress": SENDER,
        "recipients": {"to": [{"address": a} for a in to]},
        "content": {"subject": subject, "plainText": "Hello from the emulator."},
        **extra,
    }


def with_attachments() -> dict:
    m = message("alice@example.com", subject="Your invoice")
    m["content"]["html"] = '<html><body><p>Invoice attached.</p><img src="cid:logo"></body></html>'
    m["attachments"] = [
        {"name": "invoice.pdf", "contentType": "application/pdf", "contentInBase64": base64.b64encode(PDF).decode()},
        {
            "name": "logo.png",
            "contentType": "image/png",
            "contentInBase64": base64.b64encode(PNG).decode(),
            "contentId": "logo",
        },
    ]
    return m


def timed_send(client, msg, **kwargs):
    started = time.monotonic()
    result = client.begin_send(msg, **kwargs).result()
    return result, time.monotonic() - started


class TestSyncEmailClient:
    def test_send_completes_in_about_a_second_and_shows_in_the_inbox(self, email_client, emulator: Emulator):
        result, elapsed = timed_send(email_client, message("alice@example.com"))

        assert result["status"] == "Succeeded"
        assert uuid.UUID(result["id"])
        # One Running poll with retry-after: 1, then Succeeded (default --email-completion-delay).
        assert 0.9 <= elapsed < 2.5, elapsed
        inbox = emulator.sent_emails()
        assert len(inbox) == 1
        entry = inbox[0]
        assert entry["id"] == result["id"]
        assert entry["senderAddress"] == SENDER
        assert entry["recipients"]["to"] == [{"address": "alice@example.com", "displayName": None}]
        assert entry["subject"] == "Welcome"
        assert entry["plainText"] == "Hello from the emulator."
        assert entry["via"] == "2025-09-01"  # what azure-communication-email 1.1.0 sends
        assert entry["status"] == "Succeeded"

    def test_attachments_and_inline_images_arrive_as_real_mime(self, email_client, emulator: Emulator):
        result, _ = timed_send(email_client, with_attachments())

        entry = emulator.sent_emails()[0]
        assert [(a["name"], a["contentId"], a["size"]) for a in entry["attachments"]] == [
            ("invoice.pdf", None, len(PDF)),
            ("logo.png", "logo", len(PNG)),
        ]
        parsed = email.message_from_bytes(emulator.raw_email(result["id"]), policy=email.policy.default)
        assert parsed["From"] == SENDER
        assert parsed["To"] == "alice@example.com"
        assert parsed["Subject"] == "Your invoice"
        assert parsed["Message-ID"] == f"<{result['id']}@acacacac-0000-4000-8000-000000000001.azurecomm.net>"
        assert parsed.get_body(("plain",)).get_content().strip() == "Hello from the emulator."
        assert "cid:logo" in parsed.get_body(("html",)).get_content()
        parts = {p.get_filename() or p["Content-ID"]: p for p in parsed.walk() if p.get_content_maintype() in ("application", "image")}
        assert parts["invoice.pdf"].get_content() == PDF
        assert parts["<logo>"].get_content() == PNG

    def test_the_poller_reports_running_then_succeeded(self, email_client):
        poller = email_client.begin_send(message("alice@example.com"))
        assert poller.status() in ("Running", "InProgress")
        assert not poller.done()
        result = poller.result()
        assert poller.status() == "Succeeded"
        assert result["status"] == "Succeeded"

    def test_an_operation_id_is_used_and_a_repeat_sends_nothing(self, email_client, emulator: Emulator):
        op = str(uuid.uuid4())
        first = email_client.begin_send(message("alice@example.com"), operation_id=op).result()
        again = email_client.begin_send(message("alice@example.com"), operation_id=op).result()

        assert first["id"] == op and again["id"] == op
        assert len(emulator.sent_emails()) == 1

    def test_an_unlinked_sender_domain_is_refused(self, email_client, emulator: Emulator):
        m = message("alice@example.com")
        m["senderAddress"] = "noreply@contoso.com"
        with pytest.raises(HttpResponseError) as err:
            email_client.begin_send(m)

        assert err.value.status_code == 404
        assert err.value.error.code == "DomainNotLinked"
        assert emulator.sent_emails() == []

    def test_invalid_messages_are_400_with_the_service_codes(self, email_client, emulator: Emulator):
        too_many = message(*[f"user{n}@example.com" for n in range(51)])
        bad_address = message("not an address")
        exe = message("alice@example.com")
        exe["attachments"] = [{"name": "setup.exe", "contentType": "application/x-msdownload", "contentInBase64": "TVo="}]
        for msg, code in [(too_many, "TooManyRecipients"), (bad_address, "InvalidEmailAddress"), (exe, "InvalidAttachmentType")]:
            with pytest.raises(HttpResponseError) as err:
                email_client.begin_send(msg)
            assert err.value.status_code == 400
            assert err.value.error.code == code
        assert emulator.sent_emails() == []


class TestAsyncEmailClient:
    @pytest.mark.asyncio
    async def test_send_with_attachments_completes_in_about_a_second(self, async_email_client, emulator: Emulator):
        started = time.monotonic()
        poller = await async_email_client.begin_send(with_attachments())
        result = await poller.result()
        elapsed = time.monotonic() - started

        assert result["status"] == "Succeeded"
        assert 0.9 <= elapsed < 2.5, elapsed
        assert [a["name"] for a in emulator.sent_emails()[0]["attachments"]] == ["invoice.pdf", "logo.png"]


FAILURES = """
rules:
  - name: drop-to-gmail
    match: {operation: Email.Send, to: "*@gmail.test"}
    email: {result: {status: Failed}}
  - name: throttle-once
    match: {operation: Email.Send, body: {"/content/subject": "throttled"}}
    times: 1
    respond: {status: 429, headers: {Retry-After: "1"}}
  - name: poll-outage
    match: {operation: Email.GetSendResult}
    times: 1
    respond: {status: 503}
"""


def test_scripted_failures_reach_the_caller_as_the_sdk_reports_them(start_emulator, tmp_path):
    from azure.communication.email import EmailClient
    from azure.core.credentials import AzureKeyCredential

    fixture = tmp_path / "email-failures.yaml"
    fixture.write_text(FAILURES)
    emulator = start_emulator("--fixtures", fixture)
    client = EmailClient(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))

    # A poll that fails once with 503 is retried by the pipeline; the send still completes.
    result, elapsed = timed_send(client, message("alice@example.com"))
    assert result["status"] == "Succeeded"
    # A failed operation raises, with the service's code and message.
    with pytest.raises(HttpResponseError) as err:
        client.begin_send(message("Someone@gmail.test")).result()
    assert "(EmailDropped) Email was dropped after several attempts to deliver." in str(err.value)
    # A throttled send is retried after Retry-After and goes through.
    result, elapsed = timed_send(client, message("alice@example.com", subject="throttled"))
    assert result["status"] == "Succeeded"
    assert elapsed >= 1.9, elapsed  # one second of Retry-After, one of the operation
    assert [e["subject"] for e in emulator.sent_emails("to=alice@example.com")] == ["Welcome", "throttled"]


def test_an_entra_id_credential_sends(emulator: Emulator, monkeypatch):
    from azure.communication.email import EmailClient
    from azure.identity import ClientSecretCredential

    for name in ("AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    credential = ClientSecretCredential(
        TENANT, CLIENT_ID, CLIENT_SECRET, authority=emulator.https_endpoint.rstrip("/"), disable_instance_discovery=True
    )
    client = EmailClient(emulator.https_endpoint, credential)
    result, elapsed = timed_send(client, message("alice@example.com"))

    assert result["status"] == "Succeeded"
    assert elapsed < 2.5, elapsed
    assert emulator.journal("operation=Email.Send")[0]["auth"] == "entraId"
