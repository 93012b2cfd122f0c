"""``--state-dir``: what an application stored survives a restart of the emulator, seen through
the unmodified official Python SDKs: the same user token still works, the thread lists the same
messages in the same order, the SMS outbox holds the same messages, and the TLS certificate the
application trusts stays the same.

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
