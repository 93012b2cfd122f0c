"""The Rooms API checked against the service's own OpenAPI definition (Azure/azure-rest-api-specs,
``specification/communication/data-plane/Rooms/stable/2025-03-13/communicationservicesrooms.json``
and the common types it refers to, ``specification/communication/data-plane/Common/stable/2023-11-15/common.json``;
see specs/README.md).

Every answer of every operation (create, list, get, update, delete, participants list and
update) and the errors (400 for a bad room id or window, 404 for an unknown room) is validated
against the spec's definitions (``RoomModel``, ``RoomsCollection``, ``ParticipantsCollection``,
``UpdateParticipantsResult``, the common ``CommunicationErrorResponse`` with ``x-ms-error-code``
equal to the body's code), through the official SDK's pipeline (``send_request``). The example
requests of the spec folder must be valid against their request definitions.

The spec files are read from ``$ACS_EMULATOR_SPECS`` (default: the repository's ``specs/``):
``Rooms/2025-03-13/communicationservicesrooms.json`` (with ``examples/``) and
``Common/2023-11-15/common.json``. A missing file fails these tests, naming the file.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from acs_emulator import Emulator

REPO = Path(__file__).resolve().parents[3]
SPECS = Path(os.environ.get("ACS_EMULATOR_SPECS", REPO / "specs"))
VERSION = "2025-03-13"
SPEC = SPECS / "Rooms" / VERSION / "communicationservicesrooms.json"
COMMON = SPECS / "Common" / "2023-11-15" / "common.json"
COMMON_REF = "../../../Common/stable/2023-11-15/common.json"


def read(path: Path) -> dict:
    if not path.is_file():
        pytest.fail(f"{path} is missing: the Rooms spec copies belong under {SPECS} (specs/README.md)")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def registry() -> Registry:
    common = read(COMMON)
    text = json.dumps(read(SPEC)).replace(f"{COMMON_REF}#", "spec:common#")
    return Registry().with_resources(
        [
            ("spec:common", Resource.from_contents(common, default_specification=DRAFT4)),
            ("spec:rooms", Resource.from_contents(json.loads(text), default_specification=DRAFT4)),
        ]
    )


def assert_valid(registry: Registry, definition: str, instance) -> None:
    validator = Draft4Validator({"$ref": f"spec:rooms#/definitions/{definition}"}, registry=registry)
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{definition}: {[e.message for e in errors]}\n{json.dumps(instance, indent=2)}"


def call(emulator: Emulator, method: str, path: str, body=None):
    from azure.communication.rooms import RoomsClient
    from azure.core.credentials import AzureKeyCredential
    from azure.core.rest import HttpRequest

    client = RoomsClient(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    request = HttpRequest(method, path, json=body, headers=headers)
    response = client._rooms_service_client.send_request(request)  # noqa: SLF001 - the SDK's own pipeline (HMAC)
    return response.status_code, response.headers, (response.json() if response.content else None)


def assert_error(registry: Registry, answer, status: int) -> None:
    got, headers, body = answer
    assert got == status, body
    assert_valid(registry, "CommunicationErrorResponse", body)
    assert headers["x-ms-error-code"] == body["error"]["code"]


def test_the_example_requests_are_valid(registry):
    folder = SPEC.parent / "examples"
    pairs = [("Rooms_Create.json", "createRoomRequest", "CreateRoomRequest"),
             ("Rooms_Update.json", "updateRoomRequest", "UpdateRoomRequest"),
             ("Participants_Update.json", "updateParticipantsRequest", "UpdateParticipantsRequest")]
    for name, parameter, definition in pairs:
        request = read(folder / name)["parameters"][parameter]
        # A null participant means "remove" (merge-patch), which the schema does not model.
        if isinstance(request.get("participants"), dict):
            request["participants"] = {k: v for k, v in request["participants"].items() if v is not None}
        assert_valid(registry, definition, request)


def test_every_answer_is_valid(registry, emulator: Emulator):
    from azure.communication.identity import CommunicationIdentityClient

    user = CommunicationIdentityClient.from_connection_string(emulator.connection_string).create_user().raw_id
    start = datetime.now(timezone.utc) + timedelta(days=1)
    status, _, room = call(emulator, "POST", f"/rooms?api-version={VERSION}", {
        "validFrom": start.isoformat(), "validUntil": (start + timedelta(days=2)).isoformat(),
        "pstnDialOutEnabled": True, "participants": {user: {"role": "Presenter"}},
    })
    assert status == 201, room
    assert_valid(registry, "RoomModel", room)
    rid = room["id"]
    for method, path, body, code, definition in [
        ("GET", f"/rooms?api-version={VERSION}", None, 200, "RoomsCollection"),
        ("GET", f"/rooms/{rid}?api-version={VERSION}", None, 200, "RoomModel"),
        ("PATCH", f"/rooms/{rid}?api-version={VERSION}", {"pstnDialOutEnabled": False}, 200, "RoomModel"),
        ("GET", f"/rooms/{rid}/participants?api-version={VERSION}", None, 200, "ParticipantsCollection"),
        ("PATCH", f"/rooms/{rid}/participants?api-version={VERSION}", {"participants": {user: {"role": "Collaborator"}}},
         200, "UpdateParticipantsResult"),
    ]:
        got, _, answer = call(emulator, method, path, body)
        assert got == code, answer
        assert_valid(registry, definition, answer)
    assert call(emulator, "DELETE", f"/rooms/{rid}?api-version={VERSION}")[0] == 204
    assert_error(registry, call(emulator, "GET", f"/rooms/{rid}?api-version={VERSION}"), 404)
    assert_error(registry, call(emulator, "GET", f"/rooms/invalid_id?api-version={VERSION}"), 400)
    assert_error(registry, call(emulator, "POST", f"/rooms?api-version={VERSION}", {
        "validFrom": start.isoformat(), "validUntil": (start + timedelta(days=200)).isoformat()}), 400)
