"""The ACS Identity API of acs-emulator, driven through the unmodified official Python SDK
(azure-communication-identity, sync and aio clients).

Fixtures (conftest.py): ``emulator`` (the running process), ``identity_client`` and
``async_identity_client`` (each parametrized over HTTPS + connection string and plain HTTP +
AzureKeyCredential). Every test starts from an emptied emulator.
"""

from __future__ import annotations

import base64
import os
import random
import uuid
from datetime import timedelta

import pytest
from azure.communication.chat import CommunicationTokenCredential
from azure.communication.chat.aio import CommunicationTokenCredential as AsyncCommunicationTokenCredential
from azure.communication.identity import (
    CommunicationIdentityClient,
    CommunicationTokenScope,
    CommunicationUserIdentifier,
)
from azure.communication.identity.aio import CommunicationIdentityClient as AsyncCommunicationIdentityClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from acs_emulator import Emulator
from tokens import (
    USER_ID_PREFIX,
    decode_jwt_payload,
    mint_entra_token,
    new_teams_identity,
    parse_expires_on,
    seconds_from_now,
)

DEFAULT_LIFETIME_S = 1440 * 60  # the service default when no expiry is requested
CLOCK_SLACK_S = 30  # tolerance between "now" here and "now" in the emulator, plus request time

# Every scope the Identity API knows, alone and combined as applications use them.
SCOPE_SETS = [
    ["chat"],
    ["voip"],
    ["chat", "voip"],
    ["chat.join"],
    ["chat.join.limited"],
    ["voip.join"],
    ["chat.join", "voip.join"],
]


# --------------------------------------------------------------------------- assertions
def assert_emulator_user_id(user_id: str) -> None:
    """`8:acs:<default resource GUID>_<uuid>` with exactly two ':' (JS and Python parse on them)."""
    assert user_id.startswith(USER_ID_PREFIX), user_id
    suffix = user_id[len(USER_ID_PREFIX):]
    assert suffix and "_" not in suffix, f"user part must be one '_'-free segment: {user_id}"
    assert user_id.count(":") == 2, user_id


def assert_emulator_token(token: str, expires_on, expected_lifetime_s: float) -> None:
    """The token is a JWT whose `exp` equals `expires_on`, and both are ~now + expected lifetime."""
    expiry = parse_expires_on(expires_on)
    claims = decode_jwt_payload(token)
    assert isinstance(claims.get("exp"), int), f"exp must be an integer claim: {claims}"
    assert abs(claims["exp"] - expiry.timestamp()) <= 2, (claims["exp"], expires_on)
    remaining = seconds_from_now(expiry)
    assert expected_lifetime_s - CLOCK_SLACK_S <= remaining <= expected_lifetime_s + CLOCK_SLACK_S, (
        f"expires_on {expires_on} is {remaining:.0f} s away, expected about {expected_lifetime_s} s"
    )
    # Python's CommunicationTokenCredential decodes the payload with the *standard* base64
    # alphabet; a payload containing '-' or '_' would be rejected (sdk-behaviour.md §6).
    payload_segment = token.split(".")[1]
    assert "-" not in payload_segment and "_" not in payload_segment, payload_segment


def assert_http_error(err: pytest.ExceptionInfo, status: int, code: str | None = None) -> None:
    """The SDK raised HttpResponseError with this status and (optionally) ACS error code."""
    assert isinstance(err.value, HttpResponseError)
    assert err.value.status_code == status, f"{err.value.status_code}: {err.value.message}"
    if code is not None:
        assert err.value.error is not None, f"no ACS error body in {err.value.message}"
        assert err.value.error.code == code, err.value.error


def random_access_key() -> str:
    return base64.b64encode(os.urandom(64)).decode()


# --------------------------------------------------------------------------- sync client
class TestSyncIdentityClient:
    def test_create_user_returns_a_new_acs_identity_of_the_emulator_resource(self, identity_client):
        first = identity_client.create_user()
        second = identity_client.create_user()

        assert isinstance(first, CommunicationUserIdentifier)
        assert_emulator_user_id(first.properties["id"])
        assert first.raw_id == first.properties["id"]
        assert first.properties["id"] != second.properties["id"]

    @pytest.mark.parametrize("scopes", SCOPE_SETS, ids=["+".join(s) for s in SCOPE_SETS])
    def test_create_user_and_token_issues_a_24_hour_token_for_every_scope_set(self, identity_client, scopes):
        user, token = identity_client.create_user_and_token(scopes)

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)

    def test_create_user_and_token_accepts_the_scope_enum(self, identity_client):
        user, token = identity_client.create_user_and_token(
            [CommunicationTokenScope.CHAT, CommunicationTokenScope.VOIP]
        )

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)

    @pytest.mark.parametrize("minutes", [60, 90, 1440])
    def test_create_user_and_token_honours_token_expires_in(self, identity_client, minutes):
        user, token = identity_client.create_user_and_token(
            ["chat", "voip"], token_expires_in=timedelta(minutes=minutes)
        )

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, minutes * 60)

    def test_get_token_without_expiry_issues_a_24_hour_token(self, identity_client):
        user = identity_client.create_user()

        token = identity_client.get_token(user, ["chat"])

        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)

    @pytest.mark.parametrize("minutes", [60, 1440])
    def test_get_token_honours_token_expires_in(self, identity_client, minutes):
        user = identity_client.create_user()

        token = identity_client.get_token(user, ["chat.join", "voip.join"], token_expires_in=timedelta(minutes=minutes))

        assert_emulator_token(token.token, token.expires_on, minutes * 60)

    def test_get_token_issues_a_distinct_token_on_every_call(self, identity_client):
        user = identity_client.create_user()

        tokens = {identity_client.get_token(user, ["chat"]).token for _ in range(3)}

        assert len(tokens) == 3

    def test_revoke_tokens_succeeds_and_later_tokens_are_still_issued(self, identity_client):
        user, _ = identity_client.create_user_and_token(["chat"])

        assert identity_client.revoke_tokens(user) is None
        fresh = identity_client.get_token(user, ["chat"])

        assert_emulator_token(fresh.token, fresh.expires_on, DEFAULT_LIFETIME_S)

    def test_delete_user_makes_the_identity_unknown(self, identity_client):
        user = identity_client.create_user()

        assert identity_client.delete_user(user) is None

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token(user, ["chat"])
        assert_http_error(err, 401)
        with pytest.raises(HttpResponseError) as err:
            identity_client.revoke_tokens(user)
        assert_http_error(err, 401)
        with pytest.raises(HttpResponseError) as err:
            identity_client.delete_user(user)
        assert_http_error(err, 401)

    def test_deleting_one_user_leaves_the_others_alone(self, identity_client):
        doomed, kept = identity_client.create_user(), identity_client.create_user()

        identity_client.delete_user(doomed)
        token = identity_client.get_token(kept, ["voip"])

        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)

    def test_get_token_for_a_well_formed_unknown_identity_is_401(self, identity_client):
        stranger = CommunicationUserIdentifier(f"{USER_ID_PREFIX}{uuid.uuid4()}")

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token(stranger, ["chat"])

        assert_http_error(err, 401)

    @pytest.mark.parametrize("minutes", [59, 1441])
    def test_create_user_and_token_rejects_an_expiry_outside_60_to_1440_minutes(self, identity_client, minutes):
        with pytest.raises(HttpResponseError) as err:
            identity_client.create_user_and_token(["chat"], token_expires_in=timedelta(minutes=minutes))

        assert_http_error(err, 400, "ValidationError")
        assert err.value.error.target == "ExpiresInMinutes"

    @pytest.mark.parametrize("minutes", [59, 1441])
    def test_get_token_rejects_an_expiry_outside_60_to_1440_minutes(self, identity_client, minutes):
        user = identity_client.create_user()

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token(user, ["chat"], token_expires_in=timedelta(minutes=minutes))

        assert_http_error(err, 400, "ValidationError")
        assert err.value.error.target == "ExpiresInMinutes"

    def test_get_token_with_no_scopes_is_400(self, identity_client):
        user = identity_client.create_user()

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token(user, [])

        assert_http_error(err, 400)

    def test_get_token_for_teams_user_exchanges_an_entra_token_and_keeps_its_expiry(self, identity_client):
        app_id, object_id, tenant_id = new_teams_identity()
        entra_token = mint_entra_token(app_id, object_id, tenant_id, lifetime_s=3600)

        token = identity_client.get_token_for_teams_user(entra_token, app_id, object_id)

        assert token.token != entra_token
        assert_emulator_token(token.token, token.expires_on, 3600)
        assert decode_jwt_payload(token.token)["exp"] == decode_jwt_payload(entra_token)["exp"]

    def test_get_token_for_teams_user_with_another_app_id_is_400_validation_error(self, identity_client):
        app_id, object_id, tenant_id = new_teams_identity()
        entra_token = mint_entra_token(app_id, object_id, tenant_id)

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token_for_teams_user(entra_token, str(uuid.uuid4()), object_id)

        assert_http_error(err, 400, "ValidationError")

    def test_get_token_for_teams_user_with_an_expired_entra_token_is_401_invalid_access_token(self, identity_client):
        app_id, object_id, tenant_id = new_teams_identity()
        expired = mint_entra_token(app_id, object_id, tenant_id, lifetime_s=-600)

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token_for_teams_user(expired, app_id, object_id)

        assert_http_error(err, 401, "InvalidAccessToken")

    def test_get_token_for_teams_user_with_a_malformed_token_is_401_invalid_access_token(self, identity_client):
        app_id, object_id, _ = new_teams_identity()

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token_for_teams_user("definitely-not-a-jwt", app_id, object_id)

        assert_http_error(err, 401, "InvalidAccessToken")


# --------------------------------------------------------------------------- aio client
class TestAsyncIdentityClient:
    """The aio client runs on aiohttp, which sends ids in paths raw (`/identities/8:acs:…`)."""

    @pytest.mark.asyncio
    async def test_create_user_returns_a_new_acs_identity(self, async_identity_client):
        user = await async_identity_client.create_user()

        assert_emulator_user_id(user.properties["id"])

    @pytest.mark.asyncio
    @pytest.mark.parametrize("scopes", SCOPE_SETS, ids=["+".join(s) for s in SCOPE_SETS])
    async def test_create_user_and_token_issues_a_24_hour_token_for_every_scope_set(self, async_identity_client, scopes):
        user, token = await async_identity_client.create_user_and_token(scopes)

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)

    @pytest.mark.asyncio
    async def test_create_user_and_token_honours_token_expires_in(self, async_identity_client):
        user, token = await async_identity_client.create_user_and_token(["chat"], token_expires_in=timedelta(minutes=60))

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, 3600)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("minutes", [60, 1440])
    async def test_get_token_honours_token_expires_in(self, async_identity_client, minutes):
        user = await async_identity_client.create_user()

        token = await async_identity_client.get_token(user, ["chat", "voip"], token_expires_in=timedelta(minutes=minutes))

        assert_emulator_token(token.token, token.expires_on, minutes * 60)

    @pytest.mark.asyncio
    async def test_revoke_tokens_succeeds_and_later_tokens_are_still_issued(self, async_identity_client):
        user, _ = await async_identity_client.create_user_and_token(["chat"])

        assert await async_identity_client.revoke_tokens(user) is None
        fresh = await async_identity_client.get_token(user, ["chat"])

        assert_emulator_token(fresh.token, fresh.expires_on, DEFAULT_LIFETIME_S)

    @pytest.mark.asyncio
    async def test_delete_user_makes_get_token_fail_with_401(self, async_identity_client):
        user = await async_identity_client.create_user()

        assert await async_identity_client.delete_user(user) is None
        with pytest.raises(HttpResponseError) as err:
            await async_identity_client.get_token(user, ["chat"])

        assert_http_error(err, 401)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("minutes", [59, 1441])
    async def test_an_expiry_outside_60_to_1440_minutes_is_400_validation_error(self, async_identity_client, minutes):
        user = await async_identity_client.create_user()

        with pytest.raises(HttpResponseError) as err:
            await async_identity_client.get_token(user, ["chat"], token_expires_in=timedelta(minutes=minutes))

        assert_http_error(err, 400, "ValidationError")

    @pytest.mark.asyncio
    async def test_get_token_for_teams_user_exchanges_an_entra_token(self, async_identity_client):
        app_id, object_id, tenant_id = new_teams_identity()
        entra_token = mint_entra_token(app_id, object_id, tenant_id, lifetime_s=7200)

        token = await async_identity_client.get_token_for_teams_user(entra_token, app_id, object_id)

        assert_emulator_token(token.token, token.expires_on, 7200)

    @pytest.mark.asyncio
    async def test_get_token_for_teams_user_with_another_app_id_is_400(self, async_identity_client):
        app_id, object_id, tenant_id = new_teams_identity()
        entra_token = mint_entra_token(app_id, object_id, tenant_id)

        with pytest.raises(HttpResponseError) as err:
            await async_identity_client.get_token_for_teams_user(entra_token, str(uuid.uuid4()), object_id)

        assert_http_error(err, 400, "ValidationError")

    @pytest.mark.asyncio
    async def test_async_communication_token_credential_reads_the_expiry_of_an_emulator_token(self, async_identity_client):
        _, issued = await async_identity_client.create_user_and_token(["chat"], token_expires_in=timedelta(minutes=60))

        async with AsyncCommunicationTokenCredential(issued.token) as credential:
            access = await credential.get_token()

        assert access.token == issued.token
        assert abs(access.expires_on - parse_expires_on(issued.expires_on).timestamp()) <= 2


# --------------------------------------------------------------------------- authentication
class TestConnectionAndAuthentication:
    def test_a_connection_string_with_the_wrong_key_is_rejected_with_401(self, emulator: Emulator):
        endpoint = emulator.connection_string.split(";")[0]  # "endpoint=https://…"
        client = CommunicationIdentityClient.from_connection_string(f"{endpoint};accesskey={random_access_key()}")

        with pytest.raises(HttpResponseError) as err:
            client.create_user()

        assert_http_error(err, 401)

    def test_a_key_credential_with_the_wrong_key_is_rejected_with_401_over_http(self, emulator: Emulator):
        client = CommunicationIdentityClient(
            emulator.http_endpoint.rstrip("/"), AzureKeyCredential(random_access_key())
        )

        with pytest.raises(HttpResponseError) as err:
            client.create_user_and_token(["chat"])

        assert_http_error(err, 401)

    @pytest.mark.asyncio
    async def test_the_aio_client_with_the_wrong_key_is_rejected_with_401(self, emulator: Emulator):
        endpoint = emulator.connection_string.split(";")[0]
        client = AsyncCommunicationIdentityClient.from_connection_string(f"{endpoint};accesskey={random_access_key()}")

        async with client:
            with pytest.raises(HttpResponseError) as err:
                await client.create_user()

        assert_http_error(err, 401)

    def test_the_http_endpoint_works_exactly_as_printed_with_its_trailing_slash(self, emulator: Emulator):
        # Copy-pasting the banner gives "http://127.0.0.1:<port>/"; the Python SDK then signs
        # the host as "127.0.0.1:<port>/" (sdk-behaviour.md §4), which the emulator must accept.
        assert emulator.http_endpoint.endswith("/")
        client = CommunicationIdentityClient(emulator.http_endpoint, AzureKeyCredential(emulator.access_key))

        user = client.create_user()

        assert_emulator_user_id(user.properties["id"])

    def test_the_https_endpoint_is_also_reachable_as_localhost(self, emulator: Emulator):
        # The generated certificate names both 127.0.0.1 and localhost.
        connection_string = emulator.connection_string.replace("://127.0.0.1:", "://localhost:")
        assert "://localhost:" in connection_string
        client = CommunicationIdentityClient.from_connection_string(connection_string)

        user, token = client.create_user_and_token(["chat"])

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)

    @pytest.mark.parametrize("api_version", ["2021-03-07", "2022-06-01", "2022-10-01", "2023-10-01"])
    def test_every_api_version_the_sdk_can_be_pinned_to_is_served(self, emulator: Emulator, api_version):
        client = CommunicationIdentityClient.from_connection_string(emulator.connection_string, api_version=api_version)

        user, token = client.create_user_and_token(["chat"])
        fresh = client.get_token(user, ["voip"])
        client.revoke_tokens(user)
        client.delete_user(user)

        assert_emulator_user_id(user.properties["id"])
        assert_emulator_token(token.token, token.expires_on, DEFAULT_LIFETIME_S)
        assert_emulator_token(fresh.token, fresh.expires_on, DEFAULT_LIFETIME_S)


# --------------------------------------------------------------------------- harness
class TestEmulatorControl:
    def test_reset_forgets_every_identity(self, emulator: Emulator, identity_client):
        # Every test relies on POST /_emulator/reset (conftest.py); check that it really clears state.
        user = identity_client.create_user()

        emulator.reset()

        with pytest.raises(HttpResponseError) as err:
            identity_client.get_token(user, ["chat"])
        assert_http_error(err, 401)


# --------------------------------------------------------------------------- user credential
class TestCommunicationTokenCredential:
    def test_it_accepts_emulator_tokens_and_reports_their_expiry(self, identity_client):
        # The Python credential decodes the JWT payload with the standard base64 alphabet
        # (sdk-behaviour.md §6): any '-' or '_' in the payload makes it raise. Check a spread
        # of tokens with different scopes and lifetimes, since the payload bytes vary.
        rng = random.Random(1234)
        issued = [identity_client.create_user_and_token(scopes)[1] for scopes in SCOPE_SETS]
        user = identity_client.create_user()
        issued += [
            identity_client.get_token(
                user, rng.choice(SCOPE_SETS), token_expires_in=timedelta(minutes=rng.randint(60, 1440))
            )
            for _ in range(20)
        ]

        for access_token in issued:
            with CommunicationTokenCredential(access_token.token) as credential:
                parsed = credential.get_token()
            assert parsed.token == access_token.token
            assert isinstance(parsed.expires_on, int)
            assert abs(parsed.expires_on - parse_expires_on(access_token.expires_on).timestamp()) <= 2

    def test_it_accepts_a_teams_exchanged_token(self, identity_client):
        app_id, object_id, tenant_id = new_teams_identity()
        entra_token = mint_entra_token(app_id, object_id, tenant_id, lifetime_s=5400)
        exchanged = identity_client.get_token_for_teams_user(entra_token, app_id, object_id)

        with CommunicationTokenCredential(exchanged.token) as credential:
            parsed = credential.get_token()

        assert parsed.expires_on == decode_jwt_payload(entra_token)["exp"]


# --------------------------------------------------------------------------- --token-lifetime
def test_token_lifetime_flag_makes_every_issued_token_live_30_seconds():
    # A second, private emulator (its own certificate, so plain HTTP is used here).
    with Emulator(extra_args=("--token-lifetime", "30s")) as short_lived:
        client = CommunicationIdentityClient(
            short_lived.http_endpoint.rstrip("/"), AzureKeyCredential(short_lived.access_key)
        )
        user, created = client.create_user_and_token(["chat"])
        requested_hour = client.get_token(user, ["chat"], token_expires_in=timedelta(minutes=60))

    for token in (created, requested_hour):
        expiry = parse_expires_on(token.expires_on)
        assert 20 <= seconds_from_now(expiry) <= 31, token.expires_on
        assert abs(decode_jwt_payload(token.token)["exp"] - expiry.timestamp()) <= 2
        with CommunicationTokenCredential(token.token) as credential:
            assert abs(credential.get_token().expires_on - expiry.timestamp()) <= 2
