"""The SMTP relay (``--smtp-port``) driven by Python's own ``smtplib``, as an application that
sends through ACS Email's SMTP endpoint would: STARTTLS trusting the emulator's CA bundle, login
with ``<resource>.<client id>.<tenant id>`` and the Entra client's secret, a message with an
attachment, then the inbox (``/_emulator/emails``) and the ``.eml``.

The session's emulator has no SMTP relay, so this module starts its own with ``--smtp-port 0``
and finds the port in ``/_emulator/health`` (``smtpPort``).
"""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import ssl
from email.message import EmailMessage

import pytest

from acs_emulator import Emulator

SENDER = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net"
TENANT = "acacacac-0000-4000-8000-00000000000a"
CLIENT_ID = "acacacac-0000-4000-8000-00000000000c"
CLIENT_SECRET = "acs-emulator-client-secret"
USERNAME = f"acs-emulator.{CLIENT_ID}.{TENANT}"
PDF = b"%PDF-1.4 a tiny invoice"


@pytest.fixture(scope="module")
def relay():
    with Emulator(extra_args=("--smtp-port", "0")) as emulator:
        yield emulator


def smtp_port(emulator: Emulator) -> int:
    return emulator.get_json("/_emulator/health")["smtpPort"]


def tls_context(emulator: Emulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=emulator.bundle_path)


def order() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Contoso <{SENDER}>"
    msg["To"] = "Alice <alice@example.com>"
    msg["Subject"] = "Your invoice"
    msg["X-Order"] = "42"
    msg.set_content("Thanks for your order.\n.A line that starts with a dot.\n")
    msg.add_alternative("<p>Thanks for your order.</p>", subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg


def test_the_banner_and_health_show_the_relay(relay: Emulator):
    port = smtp_port(relay)
    assert re.search(rf"SMTP relay\s+127\.0\.0\.1:{port}\b", relay.stdout()), relay.stdout()


def test_smtplib_sends_with_starttls_and_login_and_the_inbox_has_it(relay: Emulator):
    with smtplib.SMTP("localhost", smtp_port(relay), timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        smtp.starttls(context=tls_context(relay))
        smtp.ehlo()
        assert "LOGIN" in smtp.esmtp_features["auth"] and "PLAIN" in smtp.esmtp_features["auth"]
        smtp.login(USERNAME, CLIENT_SECRET)
        refused = smtp.send_message(order(), to_addrs=["alice@example.com", "audit@example.com"])
        assert refused == {}

    [sent] = relay.sent_emails("subject=Your+invoice&wait=5s")
    assert sent["via"] == "smtp"
    assert sent["senderAddress"] == SENDER
    assert sent["recipients"]["to"] == [{"address": "alice@example.com", "displayName": "Alice"}]
    assert sent["recipients"]["bcc"] == [{"address": "audit@example.com", "displayName": None}]
    assert sent["headers"] == {"X-Order": "42"}
    assert "\n.A line that starts with a dot." in sent["plainText"]
    assert sent["html"].strip() == "<p>Thanks for your order.</p>"
    assert [(a["name"], a["contentType"], a["size"]) for a in sent["attachments"]] == [
        ("invoice.pdf", "application/pdf", len(PDF))
    ]
    # The .eml is the message smtplib sent; the email module reads it back.
    parsed = email.message_from_bytes(relay.raw_email(sent["id"]), policy=email.policy.default)
    assert parsed["Subject"] == "Your invoice"
    assert parsed["X-Order"] == "42"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content() == PDF
    # The same operation as a REST send: it succeeds on the emulator's clock.
    relay.advance_clock("2s")
    assert relay.get_json(f"/_emulator/emails/{sent['id']}")["status"] == "Succeeded"
    assert [e["status"] for e in relay.journal("operation=Email.SmtpSend")][-1] == 250


def test_login_needs_tls_and_the_clients_secret(relay: Emulator):
    with smtplib.SMTP("localhost", smtp_port(relay), timeout=10) as smtp:
        smtp.ehlo()
        code, _ = smtp.docmd("AUTH", "LOGIN")
        assert code == 538
        smtp.starttls(context=tls_context(relay))
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.login(USERNAME, "not-the-secret")
        assert err.value.smtp_code == 535
        # AUTH LOGIN (the mechanism the service's samples use), pipe-delimited username.
        smtp.user, smtp.password = f"acs-emulator|{CLIENT_ID}|{TENANT}", CLIENT_SECRET
        code, _ = smtp.auth("LOGIN", smtp.auth_login)
        assert code == 235


def test_a_sender_domain_that_is_not_linked_is_refused(relay: Emulator):
    with smtplib.SMTP("localhost", smtp_port(relay), timeout=10) as smtp:
        smtp.starttls(context=tls_context(relay))
        smtp.login(USERNAME, CLIENT_SECRET)
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            smtp.sendmail("me@not-linked.example", ["alice@example.com"], b"Subject: x\r\n\r\nhi\r\n")
        assert err.value.smtp_code == 550
        assert b"5.1.7" in err.value.smtp_error
