"""``--state-dir``: what an application stored survives a restart of the emulator, seen through
the unmodified official Python SDKs: the same user token still works, the thread lists the same
messages in the same order, the SMS outbox holds the same messages, the TLS certificate the
application trusts stays the same; the rooms (with their participants), the phone numbers owned
(a released one stays released), the SIP trunks and routes, and the email inbox are the same.

Each test runs its own emulator processes on a fresh state directory (the session's emulator is
memory-only, as in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.communication.chat import ChatClient, ChatParticipant, CommunicationTokenCredential
from azure.communication.identity import CommunicationIdentityClient, CommunicationTokenScope
from azure.communication.sms import SmsClient

from acs_emulator import Emulator

FROM = "+18005550100"
TO = "+14255550123"


def _messages(chat: ChatClient, thread_id: str) -> list[tuple]:
    thread = chat.get_chat_thread_client(thread_id)
    return [
        (m.id, m.type, m.sequence_id, m.content.message if m.content else None, m.created_on)
        for m in thread.list_messages()
    ]


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_tokens_threads_and_the_outbox_survive_a_restart(tmp_path: Path, monkeypatch, stop: str):
    state = str(tmp_path / "state")

    first = Emulator(extra_args=("--state-dir", state)).start()
    try:
        # The SDKs trust the certificate through the environment, as an application would.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", first.bundle_path)
        identity = CommunicationIdentityClient.from_connection_string(first.connection_string)
        user, token = identity.create_user_and_token([CommunicationTokenScope.CHAT])
        other = identity.create_user()
        chat = ChatClient(first.https_endpoint, CommunicationTokenCredential(token.token))
        created = chat.create_chat_thread(
            "kept across restarts",
            thread_participants=[
                ChatParticipant(identifier=user, display_name="Alice"),
                ChatParticipant(identifier=other, display_name="Bob"),
            ],
        )
        thread_id = created.chat_thread.id
        thread = chat.get_chat_thread_client(thread_id)
        for n in range(5):
            thread.send_message(f"message {n}", sender_display_name="Alice")
        before = _messages(chat, thread_id)
        sms = SmsClient.from_connection_string(first.connection_string)
        sms.send(from_=FROM, to=[TO], message="kept text", enable_delivery_report=True, tag="kept")
        outbox = first.sent_sms()
        cert = Path(first.cert_path).read_text()
        if stop == "sigkill":
            # Past the group-commit window (100 ms), then no chance to flush.
            import time

            time.sleep(0.5)
            first._proc.kill()
            first._proc.wait()
    finally:
        first.stop()

    with Emulator(extra_args=("--state-dir", state)) as second:
        assert Path(second.cert_path).read_text() == cert, "the TLS certificate is kept"
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", second.bundle_path)
        # The token issued before the restart still works, for the same user.
        chat = ChatClient(second.https_endpoint, CommunicationTokenCredential(token.token))
        assert _messages(chat, thread_id) == before
        threads = [t.id for t in chat.list_chat_threads()]
        assert threads == [thread_id]
        participants = sorted(p.display_name for p in chat.get_chat_thread_client(thread_id).list_participants())
        assert participants == ["Alice", "Bob"]
        assert second.sent_sms() == outbox
        # The identity is still known: it gets new tokens, and they work too.
        identity = CommunicationIdentityClient.from_connection_string(second.connection_string)
        fresh = identity.get_token(user, [CommunicationTokenScope.CHAT])
        chat = ChatClient(second.https_endpoint, CommunicationTokenCredential(fresh.token))
        chat.get_chat_thread_client(thread_id).send_message("after the restart")
        assert _messages(chat, thread_id)[0][3] == "after the restart"


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_rooms_phone_numbers_and_emails_survive_a_restart(tmp_path: Path, monkeypatch, stop: str):
    from datetime import datetime, timedelta, timezone

    from azure.communication.email import EmailClient
    from azure.communication.phonenumbers import (
        PhoneNumberAssignmentType,
        PhoneNumberCapabilities,
        PhoneNumberCapabilityType,
        PhoneNumbersClient,
        PhoneNumberType,
    )
    from azure.communication.phonenumbers.siprouting import SipRoutingClient, SipTrunk, SipTrunkRoute
    from azure.communication.rooms import ParticipantRole, RoomParticipant, RoomsClient

    state = str(tmp_path / "state")
    first = Emulator(extra_args=("--state-dir", state)).start()
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", first.bundle_path)
        identity = CommunicationIdentityClient.from_connection_string(first.connection_string)
        alice, bob = identity.create_user(), identity.create_user()
        rooms = RoomsClient.from_connection_string(first.connection_string)
        valid_from = datetime.now(timezone.utc) + timedelta(days=1)
        room = rooms.create_room(
            valid_from=valid_from,
            valid_until=valid_from + timedelta(weeks=2),
            pstn_dial_out_enabled=True,
            participants=[RoomParticipant(communication_identifier=alice, role=ParticipantRole.PRESENTER)],
        )
        rooms.add_or_update_participants(
            room_id=room.id, participants=[RoomParticipant(communication_identifier=bob)]
        )
        gone = rooms.create_room()
        rooms.delete_room(room_id=gone.id)
        rooms_before = [(r.id, r.valid_from, r.valid_until, r.pstn_dial_out_enabled) for r in rooms.list_rooms()]
        participants_before = sorted(
            (p.communication_identifier.raw_id, str(p.role)) for p in rooms.list_participants(room.id)
        )

        numbers = PhoneNumbersClient.from_connection_string(first.connection_string)
        search = numbers.begin_search_available_phone_numbers(
            "US",
            PhoneNumberType.TOLL_FREE,
            PhoneNumberAssignmentType.APPLICATION,
            PhoneNumberCapabilities(
                calling=PhoneNumberCapabilityType.OUTBOUND, sms=PhoneNumberCapabilityType.INBOUND_OUTBOUND
            ),
            area_code="833",
            quantity=2,
        ).result()
        numbers.begin_purchase_phone_numbers(search.search_id).result()
        kept, released = search.phone_numbers
        numbers.begin_release_phone_number(released).result()
        owned_before = sorted(n.phone_number for n in numbers.list_purchased_phone_numbers())
        sip = SipRoutingClient.from_connection_string(first.connection_string)
        sip.set_trunks([SipTrunk(fqdn="sbc1.contoso.com", sip_signaling_port=5061)])
        sip.set_routes(
            [
                SipTrunkRoute(name="first", number_pattern=r"^\+1425[0-9]{7}$", trunks=["sbc1.contoso.com"]),
                SipTrunkRoute(name="second", number_pattern=r"^\+[1-9][0-9]{3,23}$", trunks=["sbc1.contoso.com"]),
            ]
        )

        email = EmailClient.from_connection_string(first.connection_string)
        sent = email.begin_send(
            {
                "senderAddress": "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net",
                "recipients": {"to": [{"address": "alice@example.com"}]},
                "content": {"subject": "kept", "plainText": "Hello."},
            }
        ).result()
        inbox = first.sent_emails()
        if stop == "sigkill":
            import time

            time.sleep(0.5)
            first._proc.kill()
            first._proc.wait()
    finally:
        first.stop()

    with Emulator(extra_args=("--state-dir", state)) as second:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", second.bundle_path)
        rooms = RoomsClient.from_connection_string(second.connection_string)
        assert [
            (r.id, r.valid_from, r.valid_until, r.pstn_dial_out_enabled) for r in rooms.list_rooms()
        ] == rooms_before
        assert [r[0] for r in rooms_before] == [room.id]
        assert (
            sorted((p.communication_identifier.raw_id, str(p.role)) for p in rooms.list_participants(room.id))
            == participants_before
        )
        numbers = PhoneNumbersClient.from_connection_string(second.connection_string)
        owned = sorted(n.phone_number for n in numbers.list_purchased_phone_numbers())
        assert owned == owned_before and kept in owned and released not in owned
        sip = SipRoutingClient.from_connection_string(second.connection_string)
        assert [t.fqdn for t in sip.list_trunks()] == ["sbc1.contoso.com"]
        assert [r.name for r in sip.list_routes()] == ["first", "second"]
        assert second.sent_emails() == inbox
        assert [e["id"] for e in inbox] == [sent["id"]]
