"""The ACS Rooms API of acs-emulator, driven through the unmodified official Python SDK
(azure-communication-rooms 1.2.0, which sends api-version 2025-03-13), sync and aio clients.

Participants are users created through azure-communication-identity on the same emulator
(participants must be users of the same resource). Every test starts from an emptied emulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from acs_emulator import Emulator

TENANT = "acacacac-0000-4000-8000-00000000000a"
CLIENT_ID = "acacacac-0000-4000-8000-00000000000c"
CLIENT_SECRET = "acs-emulator-client-secret"
TRANSPORTS = ["https-connection-string", "http-key-credential"]


def _client(cls, emulator: Emulator, transport: str):
    from azure.core.credentials import AzureKeyCredential

    if transport == "https-connection-string":
        return cls.from_connection_string(emulator.connection_string)
    return cls(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))


@pytest.fixture(params=TRANSPORTS)
def rooms_client(request, emulator: Emulator):
    from azure.communication.rooms import RoomsClient

    return _client(RoomsClient, emulator, request.param)


@pytest.fixture
def users(emulator: Emulator):
    from azure.communication.identity import CommunicationIdentityClient

    identity = CommunicationIdentityClient.from_connection_string(emulator.connection_string)
    return [identity.create_user() for _ in range(3)]


def parse(value: str) -> datetime:
    # What the SDK's own live tests do with the raw strings it returns.
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_create_get_update_list_delete(rooms_client, users):
    from azure.communication.rooms import ParticipantRole, RoomParticipant

    valid_from = datetime.now(timezone.utc) + timedelta(days=3)
    valid_until = valid_from + timedelta(weeks=4)
    room = rooms_client.create_room(
        valid_from=valid_from,
        valid_until=valid_until,
        pstn_dial_out_enabled=True,
        participants=[RoomParticipant(communication_identifier=users[0], role=ParticipantRole.PRESENTER)],
    )
    assert room.id.isdigit() and len(room.id) == 17
    # Echoed to the microsecond, with a fraction, as the SDK's tests parse them.
    assert parse(room.valid_from) == valid_from
    assert parse(room.valid_until) == valid_until
    assert room.pstn_dial_out_enabled is True

    got = rooms_client.get_room(room_id=room.id)
    assert (got.id, got.valid_from, got.valid_until) == (room.id, room.valid_from, room.valid_until)

    # The SDK sends null for every field not given: they stay as they are.
    updated = rooms_client.update_room(room_id=room.id, pstn_dial_out_enabled=False)
    assert updated.pstn_dial_out_enabled is False
    assert updated.valid_from == room.valid_from and updated.valid_until == room.valid_until
    later = valid_until + timedelta(days=1)
    updated = rooms_client.update_room(room_id=room.id, valid_until=later)
    assert parse(updated.valid_until) == later
    assert updated.pstn_dial_out_enabled is False

    assert [r.id for r in rooms_client.list_rooms()] == [room.id]
    rooms_client.delete_room(room_id=room.id)
    rooms_client.delete_room(room_id=room.id)  # idempotent
    with pytest.raises(ResourceNotFoundError):
        rooms_client.get_room(room_id=room.id)


def test_a_room_without_arguments_gets_the_default_window(rooms_client):
    room = rooms_client.create_room()
    assert parse(room.valid_until) - parse(room.valid_from) == timedelta(days=180)
    assert room.pstn_dial_out_enabled is False


def test_participants_are_added_updated_listed_and_removed(rooms_client, users):
    from azure.communication.rooms import ParticipantRole, RoomParticipant

    room = rooms_client.create_room(participants=[RoomParticipant(communication_identifier=users[0])])
    rooms_client.add_or_update_participants(
        room_id=room.id,
        participants=[
            RoomParticipant(communication_identifier=users[0], role=ParticipantRole.CONSUMER),
            RoomParticipant(communication_identifier=users[1], role=ParticipantRole.COLLABORATOR),
            RoomParticipant(communication_identifier=users[2], role=None),
        ],
    )
    listed = {p.communication_identifier.raw_id: p.role for p in rooms_client.list_participants(room_id=room.id)}
    assert listed == {
        users[0].raw_id: ParticipantRole.CONSUMER,
        users[1].raw_id: ParticipantRole.COLLABORATOR,
        users[2].raw_id: ParticipantRole.ATTENDEE,
    }
    rooms_client.remove_participants(room_id=room.id, participants=[users[0], users[2]])
    rooms_client.remove_participants(room_id=room.id, participants=[users[0]])  # not there: fine
    listed = [p.communication_identifier.raw_id for p in rooms_client.list_participants(room_id=room.id)]
    assert listed == [users[1].raw_id]


def test_more_than_one_page_of_rooms(rooms_client):
    # 100 per page; the SDK sends api-version=ApiVersion.V2025_03_13 for page two.
    ids = [rooms_client.create_room().id for _ in range(101)]
    assert [r.id for r in rooms_client.list_rooms()] == ids


def test_the_real_errors(rooms_client, users):
    from azure.communication.rooms import RoomParticipant

    now = datetime.now(timezone.utc)
    with pytest.raises(HttpResponseError) as err:
        rooms_client.create_room(valid_from=now, valid_until=now + timedelta(days=181))
    assert err.value.status_code == 400
    assert "larger than 180 days" in str(err.value)
    with pytest.raises(HttpResponseError) as err:
        rooms_client.create_room(valid_until=now - timedelta(days=1))
    assert err.value.status_code == 400
    with pytest.raises(HttpResponseError) as err:
        rooms_client.get_room(room_id="invalid_id")
    assert err.value.status_code == 400
    assert "Invalid room ID length." in str(err.value)
    with pytest.raises(ResourceNotFoundError):
        rooms_client.update_room(room_id="78469124725336262", pstn_dial_out_enabled=True)
    room = rooms_client.create_room()
    with pytest.raises(HttpResponseError) as err:
        rooms_client.add_or_update_participants(
            room_id=room.id, participants=[RoomParticipant(communication_identifier=users[0], role="Kafka")]
        )
    assert err.value.status_code == 400


@pytest.mark.asyncio
async def test_the_async_client(emulator: Emulator, users):
    from azure.communication.rooms import RoomParticipant
    from azure.communication.rooms.aio import RoomsClient

    async with RoomsClient.from_connection_string(emulator.connection_string) as client:
        room = await client.create_room(participants=[RoomParticipant(communication_identifier=users[0])])
        assert (await client.get_room(room_id=room.id)).id == room.id
        assert [r.id async for r in client.list_rooms()] == [room.id]
        parts = [p async for p in client.list_participants(room_id=room.id)]
        assert [p.communication_identifier.raw_id for p in parts] == [users[0].raw_id]
        await client.delete_room(room_id=room.id)


def test_an_entra_id_credential(emulator: Emulator, monkeypatch):
    from azure.communication.rooms import RoomsClient
    from azure.identity import ClientSecretCredential

    for name in ("AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    credential = ClientSecretCredential(
        TENANT, CLIENT_ID, CLIENT_SECRET, authority=emulator.https_endpoint.rstrip("/"), disable_instance_discovery=True
    )
    client = RoomsClient(emulator.https_endpoint, credential)
    room = client.create_room()
    assert client.get_room(room_id=room.id).id == room.id
    assert emulator.journal("operation=Rooms.Create")[0]["auth"] == "entraId"
