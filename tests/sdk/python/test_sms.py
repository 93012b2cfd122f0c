"""The ACS SMS API of acs-emulator, driven through the unmodified official Python SDK
(azure-communication-sms 1.1.0, sync and aio clients).

Fixtures (conftest.py): ``emulator`` (the running process, with ``sent_sms()`` reading the
outbox), ``sms_client`` and ``async_sms_client`` (each parametrized over HTTPS + connection string
and plain HTTP + AzureKeyCredential). Every test starts from an emptied emulator, which owns the
default sender number +18005550100.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

import pytest
from azure.core.exceptions import HttpResponseError

from acs_emulator import Emulator

FROM = "+18005550100"  # the emulator's default --phone-number
TO = "+14255550123"
OTHER = "+14255550124"


def q(**params) -> str:
    """An outbox query string (``+`` in numbers percent-encoded)."""
    return urllib.parse.urlencode(params)


def assert_accepted(result, to: str) -> None:
    assert result.to == to
    assert result.message_id and result.message_id.startswith("Outgoing_"), result.message_id
    assert result.http_status_code == 202
    assert result.successful is True
    assert result.error_message is None


def assert_failed(result, to: str, message: str) -> None:
    assert result.to == to
    assert result.message_id is None
    assert result.http_status_code == 400
    assert result.successful is False
    assert result.error_message == message


def assert_outbox_entry(entry: dict, result, *, message: str, tag: str | None, report: bool) -> None:
    """What the outbox recorded for one accepted recipient of an SDK send."""
    assert entry["messageId"] == result.message_id
    assert entry["from"] == FROM
    assert entry["to"] == result.to
    assert entry["message"] == message
    assert entry["tag"] == tag
    assert entry["enableDeliveryReport"] is report
    assert entry["apiVersion"] == "2021-03-07"  # what azure-communication-sms 1.1.0 sends
    # The SDK puts a fresh repeatability id on every recipient.
    assert entry["repeatabilityRequestId"]
    assert entry["encoding"] == "GSM-7" and entry["segments"] == 1


class TestSyncSmsClient:
    def test_send_to_one_recipient_is_accepted_and_shows_in_the_outbox(self, sms_client, emulator: Emulator):
        results = sms_client.send(from_=FROM, to=TO, message="Hello World via SMS")

        assert len(results) == 1
        assert_accepted(results[0], TO)
        outbox = emulator.sent_sms()
        assert len(outbox) == 1
        assert_outbox_entry(outbox[0], results[0], message="Hello World via SMS", tag=None, report=False)

    def test_send_to_many_recipients_with_options(self, sms_client, emulator: Emulator):
        results = sms_client.send(
            from_=FROM, to=[TO, OTHER], message="hello multi", enable_delivery_report=True, tag="custom-tag"
        )

        assert [r.to for r in results] == [TO, OTHER]
        for result in results:
            assert_accepted(result, result.to)
        assert results[0].message_id != results[1].message_id
        outbox = emulator.sent_sms(q(tag="custom-tag"))
        assert len(outbox) == 2
        for entry, result in zip(outbox, results):
            assert_outbox_entry(entry, result, message="hello multi", tag="custom-tag", report=True)
        assert [e["messageId"] for e in emulator.sent_sms(q(to=OTHER))] == [results[1].message_id]

    def test_bad_recipients_fail_alone_with_the_real_service_messages(self, sms_client, emulator: Emulator):
        results = sms_client.send(from_=FROM, to=[TO, "+1425555012345", "+123"], message="hi")

        assert len(results) == 3
        assert_accepted(results[0], TO)
        assert_failed(results[1], "+1425555012345", "Unknown country code.")
        assert_failed(results[2], "+123", "Invalid To phone number format.")
        assert [e["to"] for e in emulator.sent_sms()] == [TO]

    def test_a_recipient_that_is_not_a_phone_number_fails_the_whole_send(self, sms_client, emulator: Emulator):
        # The SDK's own live test (test_send_sms_fake_to_phone_number) expects HttpResponseError.
        with pytest.raises(HttpResponseError) as err:
            sms_client.send(from_=FROM, to=[TO, "Ad155500000000000"], message="Hello World via SMS")

        assert err.value.status_code == 400
        assert emulator.sent_sms() == []

    @pytest.mark.parametrize("sender", ["+15550000000", "+14255550123", "+1425555012345"])
    def test_a_sender_the_resource_does_not_own_is_rejected_with_401(self, sms_client, emulator: Emulator, sender):
        with pytest.raises(HttpResponseError) as err:
            sms_client.send(from_=sender, to=[TO], message="hi")

        assert err.value.status_code == 401
        assert emulator.sent_sms() == []

    def test_identical_sends_get_different_message_ids(self, sms_client, emulator: Emulator):
        first = sms_client.send(from_=FROM, to=[TO], message="same")
        second = sms_client.send(from_=FROM, to=[TO], message="same")

        assert first[0].message_id != second[0].message_id
        assert len(emulator.sent_sms()) == 2

    def test_a_test_can_wait_for_a_message_without_sleeping(self, sms_client, emulator: Emulator):
        sender = threading.Thread(
            target=lambda: (time.sleep(0.3), sms_client.send(from_=FROM, to=[OTHER], message="later"))
        )
        started = time.monotonic()
        sender.start()
        try:
            outbox = emulator.sent_sms(q(to=OTHER, wait="10s", count=1))
        finally:
            sender.join()

        assert [e["message"] for e in outbox] == ["later"]
        assert time.monotonic() - started < 5


class TestAsyncSmsClient:
    @pytest.mark.asyncio
    async def test_send_to_one_recipient_is_accepted_and_shows_in_the_outbox(self, async_sms_client, emulator: Emulator):
        results = await async_sms_client.send(from_=FROM, to=TO, message="Hello World via SMS")

        assert len(results) == 1
        assert_accepted(results[0], TO)
        outbox = emulator.sent_sms()
        assert len(outbox) == 1
        assert_outbox_entry(outbox[0], results[0], message="Hello World via SMS", tag=None, report=False)

    @pytest.mark.asyncio
    async def test_send_to_many_recipients_with_options(self, async_sms_client, emulator: Emulator):
        results = await async_sms_client.send(
            from_=FROM, to=[TO, OTHER], message="hello multi", enable_delivery_report=True, tag="custom-tag"
        )

        assert [r.to for r in results] == [TO, OTHER]
        for result in results:
            assert_accepted(result, result.to)
        outbox = emulator.sent_sms(q(tag="custom-tag"))
        for entry, result in zip(outbox, results, strict=True):
            assert_outbox_entry(entry, result, message="hello multi", tag="custom-tag", report=True)

    @pytest.mark.asyncio
    async def test_bad_recipients_fail_alone(self, async_sms_client, emulator: Emulator):
        results = await async_sms_client.send(from_=FROM, to=["+1425555012345", TO, "+123"], message="hi")

        assert_failed(results[0], "+1425555012345", "Unknown country code.")
        assert_accepted(results[1], TO)
        assert_failed(results[2], "+123", "Invalid To phone number format.")
        assert [e["to"] for e in emulator.sent_sms()] == [TO]

    @pytest.mark.asyncio
    async def test_a_sender_the_resource_does_not_own_is_rejected_with_401(self, async_sms_client, emulator: Emulator):
        with pytest.raises(HttpResponseError) as err:
            await async_sms_client.send(from_="+15550000000", to=[TO], message="hi")

        assert err.value.status_code == 401
        assert emulator.sent_sms() == []


class TestSmsAuthentication:
    def test_a_connection_string_with_the_wrong_key_is_rejected_with_401(self, emulator: Emulator):
        from azure.communication.sms import SmsClient

        wrong = emulator.connection_string.replace(emulator.access_key, "d3Jvbmcta2V5LXdyb25nLWtleQ==")
        with pytest.raises(HttpResponseError) as err:
            SmsClient.from_connection_string(wrong).send(from_=FROM, to=[TO], message="hi")

        assert err.value.status_code == 401
        assert emulator.sent_sms() == []
