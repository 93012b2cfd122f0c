"""The ACS Chat API of acs-emulator, driven through the unmodified official Python SDK
(azure-communication-chat 1.3.0, api-version 2024-03-07, sync and aio clients).

Users and their tokens come from the emulator's own Identity API (azure-communication-identity,
connection string), and the chat clients authenticate with ``CommunicationTokenCredential``
over HTTPS, trusted through ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` (conftest.py). Every
test starts from an emptied emulator.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from azure.communication.chat import (
    ChatClient,
    ChatMessageType,
    ChatParticipant,
    CommunicationTokenCredential,
    CommunicationUserIdentifier,
)
from azure.communication.chat.aio import ChatClient as AsyncChatClient
from azure.communication.chat.aio import CommunicationTokenCredential as AsyncCommunicationTokenCredential
from azure.communication.identity import CommunicationIdentityClient
from azure.core.exceptions import HttpResponseError

from acs_emulator import Emulator

FORBIDDEN = "User is not allowed to perform specified action."


class User:
    """An emulator identity with a token of some scopes, and sync chat clients for it."""

    def __init__(self, emulator: Emulator, identity: CommunicationIdentityClient, scopes=("chat",)):
        self.identifier, token = identity.create_user_and_token(list(scopes))
        self.id = self.identifier.properties["id"]
        self.token = token.token
        self.endpoint = emulator.https_endpoint
        self.chat = ChatClient(self.endpoint, CommunicationTokenCredential(self.token))

    def thread(self, thread_id: str):
        return self.chat.get_chat_thread_client(thread_id)


@pytest.fixture
def identity(emulator: Emulator) -> CommunicationIdentityClient:
    return CommunicationIdentityClient.from_connection_string(emulator.connection_string)


@pytest.fixture
def alice(emulator, identity) -> User:
    return User(emulator, identity)


@pytest.fixture
def bob(emulator, identity) -> User:
    return User(emulator, identity)


def assert_forbidden(err: pytest.ExceptionInfo) -> None:
    assert isinstance(err.value, HttpResponseError)
    assert err.value.status_code == 403, err.value.message
    assert err.value.error is not None and err.value.error.code == "Forbidden"
    assert err.value.error.message == FORBIDDEN


def assert_status(err: pytest.ExceptionInfo, status: int, code: str) -> None:
    assert isinstance(err.value, HttpResponseError)
    assert err.value.status_code == status, err.value.message
    assert err.value.error is not None and err.value.error.code == code, err.value.error


def utc(dt: datetime) -> datetime:
    assert dt.tzinfo is not None, dt
    return dt.astimezone(timezone.utc)


# --------------------------------------------------------------------------- threads
class TestThreads:
    def test_create_get_update_list_and_delete_a_thread(self, alice: User, bob: User):
        before = datetime.now(timezone.utc) - timedelta(seconds=5)
        result = alice.chat.create_chat_thread(
            "Lunch",
            thread_participants=[ChatParticipant(identifier=bob.identifier, display_name="Bob")],
        )
        assert result.errors == []
        thread = result.chat_thread
        assert thread.id.startswith("19:") and thread.id.endswith("@thread.v2")
        assert thread.topic == "Lunch"
        assert thread.created_by.properties["id"] == alice.id
        assert before <= utc(thread.created_on) <= datetime.now(timezone.utc) + timedelta(seconds=5)

        props = bob.thread(thread.id).get_properties()
        assert (props.id, props.topic, props.created_by.raw_id) == (thread.id, "Lunch", alice.id)

        alice.thread(thread.id).update_topic("Dinner")
        assert bob.thread(thread.id).get_properties().topic == "Dinner"

        listed = list(bob.chat.list_chat_threads())
        assert [(t.id, t.topic) for t in listed] == [(thread.id, "Dinner")]
        assert listed[0].last_message_received_on is not None

        alice.chat.delete_chat_thread(thread.id)
        for user in (alice, bob):
            with pytest.raises(HttpResponseError) as err:
                user.thread(thread.id).get_properties()
            assert_status(err, 404, "NotFound")
            assert list(user.chat.list_chat_threads()) == []
        alice.chat.delete_chat_thread(thread.id)  # deleting again succeeds

    def test_the_same_idempotency_token_returns_the_same_thread(self, alice: User):
        token = str(uuid.uuid4())
        first = alice.chat.create_chat_thread("once", idempotency_token=token).chat_thread.id
        again = alice.chat.create_chat_thread("once", idempotency_token=token).chat_thread.id
        other = alice.chat.create_chat_thread("once").chat_thread.id
        assert first == again
        assert other != first
        assert len(list(alice.chat.list_chat_threads())) == 2

    def test_unknown_participants_are_reported_in_errors(self, alice: User, bob: User):
        ghost = CommunicationUserIdentifier(alice.id.rsplit("_", 1)[0] + "_" + str(uuid.uuid4()))
        result = alice.chat.create_chat_thread(
            "T",
            thread_participants=[ChatParticipant(identifier=bob.identifier), ChatParticipant(identifier=ghost)],
        )
        assert len(result.errors) == 1
        participant, error = result.errors[0]
        assert participant.identifier.properties["id"] == ghost.properties["id"]
        assert (error.code, error.message, error.target) == ("404", "Not found", ghost.properties["id"])
        ids = [p.identifier.raw_id for p in alice.thread(result.chat_thread.id).list_participants()]
        assert ids == [alice.id, bob.id]

    def test_list_threads_pages_newest_activity_first_with_start_time(self, alice: User):
        ids = [alice.chat.create_chat_thread(f"t{i}").chat_thread.id for i in range(5)]
        alice.thread(ids[0]).send_message("bump")

        pages = list(alice.chat.list_chat_threads(results_per_page=2).by_page())
        items = [t for page in pages for t in page]
        assert len(pages) == 3
        assert [t.id for t in items][0] == ids[0]
        assert sorted(t.id for t in items) == sorted(ids)

        future = datetime.now(timezone.utc) + timedelta(hours=1)
        assert list(alice.chat.list_chat_threads(start_time=future)) == []


# --------------------------------------------------------------------------- messages
class TestMessages:
    def test_send_get_update_delete_and_list_messages(self, alice: User, bob: User):
        thread_id = alice.chat.create_chat_thread(
            "T", thread_participants=[ChatParticipant(identifier=bob.identifier)]
        ).chat_thread.id
        tc = alice.thread(thread_id)

        sent = tc.send_message("hello", sender_display_name="Alice", metadata={"k": "v"})
        html = tc.send_message("<b>hi</b>", chat_message_type=ChatMessageType.HTML)
        assert int(html.id) > int(sent.id)

        message = bob.thread(thread_id).get_message(sent.id)
        assert message.id == sent.id
        assert message.type == ChatMessageType.TEXT
        assert message.sequence_id == "3"
        assert message.version == sent.id
        assert message.content.message == "hello"
        assert message.sender_display_name == "Alice"
        assert message.sender.properties["id"] == alice.id
        assert message.metadata == {"k": "v"}
        assert message.edited_on is None and message.deleted_on is None
        assert bob.thread(thread_id).get_message(html.id).type == ChatMessageType.HTML

        tc.update_message(sent.id, content="hello again", metadata={"k2": "v2"})
        edited = tc.get_message(sent.id)
        assert edited.content.message == "hello again"
        assert edited.metadata == {"k": "v", "k2": "v2"}
        assert edited.edited_on is not None and edited.version != edited.id

        with pytest.raises(HttpResponseError) as err:
            bob.thread(thread_id).update_message(sent.id, content="not mine")
        assert_forbidden(err)

        tc.delete_message(html.id)
        assert tc.get_message(html.id).deleted_on is not None

        messages = list(bob.thread(thread_id).list_messages(results_per_page=2))
        assert [m.sequence_id for m in messages] == ["4", "3", "2", "1"]
        assert [m.type for m in messages[2:]] == [ChatMessageType.TOPIC_UPDATED, ChatMessageType.PARTICIPANT_ADDED]
        added = messages[3].content
        assert added.initiator.properties["id"] == alice.id
        assert [p.identifier.raw_id for p in added.participants] == [alice.id, bob.id]
        assert messages[2].content.topic == "T"
        assert messages[2].sender is None

    def test_list_messages_honours_start_time_and_pages(self, alice: User):
        thread_id = alice.chat.create_chat_thread("T").chat_thread.id
        tc = alice.thread(thread_id)
        for i in range(7):
            tc.send_message(f"m{i}")
        pages = list(tc.list_messages(results_per_page=3).by_page())
        assert [len(list(p)) for p in pages] == [3, 3, 3]
        future = datetime.now(timezone.utc) + timedelta(hours=1)
        assert list(tc.list_messages(start_time=future)) == []
        past = datetime.now(timezone.utc) - timedelta(hours=1)
        assert len(list(tc.list_messages(start_time=past))) == 9

    def test_read_receipts_and_typing(self, alice: User, bob: User):
        thread_id = alice.chat.create_chat_thread(
            "T", thread_participants=[ChatParticipant(identifier=bob.identifier)]
        ).chat_thread.id
        first = alice.thread(thread_id).send_message("1").id
        second = alice.thread(thread_id).send_message("2").id

        alice.thread(thread_id).send_read_receipt(second)
        bob.thread(thread_id).send_read_receipt(first)
        bob.thread(thread_id).send_read_receipt(second)
        receipts = list(alice.thread(thread_id).list_read_receipts(results_per_page=1))
        assert sorted((r.sender.raw_id, r.chat_message_id) for r in receipts) == sorted(
            [(alice.id, second), (bob.id, second)]
        )
        assert all(r.read_on is not None for r in receipts)
        assert len(list(alice.thread(thread_id).list_read_receipts(skip=1))) == 1

        alice.thread(thread_id).send_typing_notification()
        bob.thread(thread_id).send_typing_notification(sender_display_name="Bob")


# --------------------------------------------------------------------------- participants
class TestParticipants:
    def test_add_list_and_remove_participants(self, emulator, identity, alice: User, bob: User):
        carol = User(emulator, identity)
        thread_id = alice.chat.create_chat_thread("T").chat_thread.id
        tc = alice.thread(thread_id)

        failures = tc.add_participants([
            ChatParticipant(identifier=bob.identifier, display_name="Bob",
                            share_history_time=datetime(2020, 1, 1, tzinfo=timezone.utc)),
            ChatParticipant(identifier=carol.identifier, display_name="Carol"),
        ])
        assert failures == []
        assert tc.add_participants([ChatParticipant(identifier=bob.identifier)]) == []  # no-op

        participants = list(tc.list_participants(results_per_page=2))
        assert [(p.identifier.raw_id, p.display_name) for p in participants] == [
            (alice.id, None), (bob.id, "Bob"), (carol.id, "Carol")
        ]
        assert utc(participants[1].share_history_time) == datetime(2020, 1, 1, tzinfo=timezone.utc)
        assert [p.identifier.raw_id for p in tc.list_participants(skip=2)] == [carol.id]

        tc.remove_participant(carol.identifier)
        assert [p.identifier.raw_id for p in tc.list_participants()] == [alice.id, bob.id]
        with pytest.raises(HttpResponseError) as err:
            list(carol.thread(thread_id).list_messages())
        assert_forbidden(err)
        newest = next(iter(tc.list_messages()))
        assert newest.type == ChatMessageType.PARTICIPANT_REMOVED
        assert [p.identifier.raw_id for p in newest.content.participants] == [carol.id]


# --------------------------------------------------------------------------- permissions
class TestPermissions:
    def test_outsiders_get_403(self, alice: User, bob: User):
        thread_id = alice.chat.create_chat_thread("private").chat_thread.id
        for call in (
            lambda: bob.thread(thread_id).get_properties(),
            lambda: bob.thread(thread_id).send_message("hi"),
            lambda: list(bob.thread(thread_id).list_messages()),
            lambda: list(bob.thread(thread_id).list_participants()),
            lambda: bob.chat.delete_chat_thread(thread_id),
        ):
            with pytest.raises(HttpResponseError) as err:
                call()
            assert_forbidden(err)

    def test_join_scopes_limit_thread_and_participant_management(self, emulator, identity, alice: User):
        join = User(emulator, identity, scopes=("chat.join",))
        limited = User(emulator, identity, scopes=("chat.join.limited",))
        voip = User(emulator, identity, scopes=("voip",))
        extra = User(emulator, identity)
        thread_id = alice.chat.create_chat_thread(
            "T", thread_participants=[ChatParticipant(identifier=u.identifier) for u in (join, limited, voip)]
        ).chat_thread.id

        for user in (join, limited):
            with pytest.raises(HttpResponseError) as err:
                user.chat.create_chat_thread("mine")
            assert_forbidden(err)
            with pytest.raises(HttpResponseError) as err:
                user.thread(thread_id).update_topic("x")
            assert_forbidden(err)
            with pytest.raises(HttpResponseError) as err:
                user.chat.delete_chat_thread(thread_id)
            assert_forbidden(err)
            user.thread(thread_id).send_message("allowed")

        assert join.thread(thread_id).add_participants([ChatParticipant(identifier=extra.identifier)]) == []
        join.thread(thread_id).remove_participant(extra.identifier)
        with pytest.raises(HttpResponseError) as err:
            limited.thread(thread_id).add_participants([ChatParticipant(identifier=extra.identifier)])
        assert_forbidden(err)
        with pytest.raises(HttpResponseError) as err:
            limited.thread(thread_id).remove_participant(join.identifier)
        assert_forbidden(err)
        with pytest.raises(HttpResponseError) as err:
            voip.thread(thread_id).get_properties()
        assert_forbidden(err)

    def test_revoked_tokens_get_401(self, identity, alice: User):
        thread_id = alice.chat.create_chat_thread("T").chat_thread.id
        identity.revoke_tokens(alice.identifier)
        with pytest.raises(HttpResponseError) as err:
            alice.thread(thread_id).get_properties()
        assert_status(err, 401, "Unauthorized")


# --------------------------------------------------------------------------- aio
class TestAsyncClients:
    @pytest.mark.asyncio
    async def test_every_operation_through_the_aio_clients(self, emulator: Emulator, identity):
        alice_id, alice_token = identity.create_user_and_token(["chat"])
        bob_id, bob_token = identity.create_user_and_token(["chat"])
        endpoint = emulator.https_endpoint
        async with AsyncChatClient(endpoint, AsyncCommunicationTokenCredential(alice_token.token)) as alice, \
                AsyncChatClient(endpoint, AsyncCommunicationTokenCredential(bob_token.token)) as bob:
            created = await alice.create_chat_thread(
                "async", thread_participants=[ChatParticipant(identifier=bob_id, display_name="Bob")]
            )
            assert created.errors == []
            thread_id = created.chat_thread.id
            # aiohttp sends the thread id raw in the path (19:…@thread.v2); the emulator accepts it.
            async with alice.get_chat_thread_client(thread_id) as tc, bob.get_chat_thread_client(thread_id) as bc:
                assert (await bc.get_properties()).topic == "async"
                await tc.update_topic("async 2")
                sent = await tc.send_message("hello", metadata={"a": "b"})
                got = await bc.get_message(sent.id)
                assert (got.content.message, got.sender.raw_id, got.metadata) == ("hello", alice_id.raw_id, {"a": "b"})
                await tc.update_message(sent.id, content="edited")
                assert (await bc.get_message(sent.id)).content.message == "edited"
                messages = [m async for m in bc.list_messages(results_per_page=2)]
                assert [m.sequence_id for m in messages] == ["4", "3", "2", "1"]
                since = datetime.now(timezone.utc) - timedelta(hours=1)
                assert len([m async for m in bc.list_messages(start_time=since)]) == 4
                await bc.send_read_receipt(sent.id)
                receipts = [r async for r in tc.list_read_receipts()]
                assert [(r.sender.raw_id, r.chat_message_id) for r in receipts] == [(bob_id.raw_id, sent.id)]
                await bc.send_typing_notification(sender_display_name="Bob")
                participants = [p async for p in tc.list_participants(results_per_page=1)]
                assert [p.identifier.raw_id for p in participants] == [alice_id.raw_id, bob_id.raw_id]
                carol_id = identity.create_user()
                assert await tc.add_participants([ChatParticipant(identifier=carol_id)]) == []
                await tc.remove_participant(carol_id)
                await tc.delete_message(sent.id)
                assert (await tc.get_message(sent.id)).deleted_on is not None
            threads = [t async for t in bob.list_chat_threads(results_per_page=1)]
            assert [t.id for t in threads] == [thread_id]
            await alice.delete_chat_thread(thread_id)
            await alice.delete_chat_thread(thread_id)
            assert [t async for t in bob.list_chat_threads()] == []
