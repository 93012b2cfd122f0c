"""Scripted scenarios (fixture files and runtime rules) seen through the unmodified official SDKs.

Each test starts an emulator of its own (``start_emulator`` in conftest.py): rules and fixture
data stay loaded for an emulator's whole life, so they must not leak into the shared session
emulator. Sync clients are used because they read ``REQUESTS_CA_BUNDLE`` per request (the
dedicated emulator has its own certificate). The SDKs run with their default retry policies.

- throttling.yaml: two SMS sends both succeed; the journal shows 202, 429 (retried), 202.
- A runtime state machine: 503, 503, then success for ``create_user()``.
- Transport faults: what azure-core does with a connection closed without an answer.
- sms-carrier-outage.yaml: per-recipient 503 in one send, and a Failed delivery report.
- token-expiry.yaml: the virtual clock expires a user token; what refresh can and cannot do.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, IncompleteReadError, ServiceResponseError

from acs_emulator import Emulator

FIXTURES_DIR = Path(__file__).resolve().parents[3] / "fixtures"

FROM = "+18005550100"  # the emulator's default --phone-number
TO = "+14255550123"
DEFAULT_RESOURCE_ID = "acacacac-0000-4000-8000-000000000001"
# src/fixtures.rs: identities given only a name get uuid5(IDENTITY_NAMESPACE, "<resource id>/<name>").
IDENTITY_NAMESPACE = uuid.UUID(int=0x6ACF5E1E_0000_4000_8000_0000_0000_0001)


def fixture_identity(name: str, resource_id: str = DEFAULT_RESOURCE_ID) -> str:
    """The raw id the emulator derives for a fixture identity declared with only a name."""
    return f"8:acs:{resource_id}_{uuid.uuid5(IDENTITY_NAMESPACE, f'{resource_id}/{name}')}"


def statuses(emulator: Emulator, operation: str) -> list[int]:
    return [entry["status"] for entry in emulator.journal(f"operation={operation}")]


def sms_client(emulator: Emulator):
    from azure.communication.sms import SmsClient

    return SmsClient.from_connection_string(emulator.connection_string)


def identity_client(emulator: Emulator):
    from azure.communication.identity import CommunicationIdentityClient

    return CommunicationIdentityClient.from_connection_string(emulator.connection_string)


def load_rules(emulator: Emulator, yaml_text: str) -> None:
    status, body = emulator.load_fixture(yaml_text)
    assert status == 201, body


# --------------------------------------------------------------------------- throttling.yaml
class TestThrottlingFixture:
    def test_two_sends_succeed_while_the_second_is_throttled_once(self, start_emulator):
        emulator = start_emulator("--fixtures", FIXTURES_DIR / "throttling.yaml")
        client = sms_client(emulator)
        assert emulator.get_json("/_emulator/verify")["ok"] is False  # the 429 is still owed

        first = client.send(from_=FROM, to=TO, message="first")
        started = time.monotonic()
        second = client.send(from_=FROM, to=TO, message="second")
        second_took = time.monotonic() - started

        for [result] in (first, second):
            assert result.successful is True and result.http_status_code == 202, result
        journal = emulator.journal("operation=Sms.Send")
        assert [(e["status"], e["rule"]) for e in journal] == [
            (202, "first-send-passes"),
            (429, "second-send-throttled"),
            (202, None),
        ]
        assert emulator.get_json("/_emulator/verify") == {"ok": True, "unmet": []}
        assert [m["message"] for m in emulator.sent_sms()] == ["first", "second"]
        # Python's azure-core reads Retry-After (1 s) before retry-after-ms (50 ms); JS's
        # core-rest-pipeline reads them the other way round (js/test/scenarios.test.mjs).
        assert 0.95 <= second_took < 5, f"the retry waited {second_took:.2f} s"

    def test_the_429_is_the_acs_error_envelope_with_retry_headers(self, start_emulator):
        from azure.core.pipeline.policies import RetryPolicy

        emulator = start_emulator("--fixtures", FIXTURES_DIR / "throttling.yaml")
        client = sms_client_without_retries(emulator, RetryPolicy(retry_total=0))
        client.send(from_=FROM, to=TO, message="first")

        with pytest.raises(HttpResponseError) as raised:
            client.send(from_=FROM, to=TO, message="second")

        response = raised.value.response
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.headers["retry-after-ms"] == "50"
        assert response.headers["content-type"].startswith("application/json")
        assert raised.value.error.code == "TooManyRequests"
        assert raised.value.error.message == "Rate limit exceeded. Retry after 1 second."


def sms_client_without_retries(emulator: Emulator, retry_policy):
    from azure.communication.sms import SmsClient

    return SmsClient.from_connection_string(emulator.connection_string, retry_policy=retry_policy)


# --------------------------------------------------------------------------- 503, 503, success
SERVICE_UNAVAILABLE_TWICE = """
rules:
  - name: identity-down
    scenario: identity-outage
    whenState: Started
    setState: still-down
    match: {operation: Identity.CreateUser}
    respond: {status: 503}
  - name: identity-still-down
    scenario: identity-outage
    whenState: still-down
    setState: recovered
    match: {operation: Identity.CreateUser}
    respond: {status: 503, code: ServiceUnavailable, message: Try again.}
    expect: {count: 1}
"""


class TestServiceUnavailableStateMachine:
    def test_create_user_succeeds_after_two_503s(self, start_emulator):
        emulator = start_emulator()
        load_rules(emulator, SERVICE_UNAVAILABLE_TWICE)

        user = identity_client(emulator).create_user()

        assert user.properties["id"].startswith(f"8:acs:{DEFAULT_RESOURCE_ID}_")
        assert statuses(emulator, "Identity.CreateUser") == [503, 503, 201]
        scenarios = emulator.get_json("/_emulator/scenarios")
        assert scenarios["scenarios"] == {"identity-outage": "recovered"}
        assert [(r["name"], r["applied"]) for r in scenarios["rules"]] == [
            ("identity-down", 1),
            ("identity-still-down", 1),
        ]
        assert emulator.get_json("/_emulator/verify")["ok"] is True
        # The next call goes straight through.
        identity_client(emulator).create_user()
        assert statuses(emulator, "Identity.CreateUser") == [503, 503, 201, 201]


# --------------------------------------------------------------------------- transport faults
def fault_once(operation: str, fault: str) -> str:
    return f"""
rules:
  - name: {fault}-once
    match: {{operation: {operation}}}
    times: 1
    fault: {fault}
    expect: {{count: 1}}
"""


class TestTransportFaults:
    @pytest.mark.parametrize(
        "fault,error,says",
        [
            ("emptyResponse", ServiceResponseError, "Remote end closed connection without response"),
            # A TCP reset, which Python's ssl module reports as an end of stream during a TLS
            # read: over HTTPS the message is the one above (tests/sdk/README.md).
            ("connectionReset", ServiceResponseError, ""),
            ("truncatedBody", IncompleteReadError, "IncompleteRead(16 bytes read, 48 more expected)"),
        ],
    )
    def test_a_broken_create_user_is_not_retried_by_azure_core(self, start_emulator, fault, error, says):
        """azure-core retries a request whose connection broke after it was sent
        (ServiceResponseError, IncompleteReadError) only for idempotent methods (GET, PUT,
        DELETE, HEAD, OPTIONS, TRACE); ``create_user()`` is a POST, so the caller gets the error.
        That is azure-core's documented policy, not an emulator fault: the rule applied (status 0
        in the journal) and the next call succeeds."""
        emulator = start_emulator()
        load_rules(emulator, fault_once("Identity.CreateUser", fault))
        client = identity_client(emulator)

        with pytest.raises(error) as raised:
            client.create_user()

        assert says in str(raised.value)
        assert statuses(emulator, "Identity.CreateUser") == [0]
        assert emulator.get_json("/_emulator/verify")["ok"] is True
        client.create_user()
        assert statuses(emulator, "Identity.CreateUser") == [0, 201]

    @pytest.mark.parametrize("fault", ["emptyResponse", "connectionReset", "truncatedBody"])
    def test_a_broken_get_is_retried_and_succeeds(self, start_emulator, fault):
        """The same faults on an idempotent call (GET a chat thread): azure-core retries it."""
        from azure.communication.chat import ChatClient, CommunicationTokenCredential
        from azure.communication.identity import CommunicationUserIdentifier

        emulator = start_emulator("--fixtures", FIXTURES_DIR / "token-expiry.yaml")
        load_rules(emulator, fault_once("Chat.GetThread", fault))
        token = identity_client(emulator).get_token(CommunicationUserIdentifier(fixture_identity("carol")), ["chat"])
        chat = ChatClient(emulator.https_endpoint, CommunicationTokenCredential(token.token))

        properties = chat.get_chat_thread_client(TOKEN_EXPIRY_THREAD).get_properties()

        assert properties.topic == "Expiry drill"
        assert statuses(emulator, "Chat.GetThread") == [0, 200]
        assert emulator.get_json("/_emulator/verify")["ok"] is True


# --------------------------------------------------------------------------- sms-carrier-outage.yaml
DELIVERY_REPORT_API_VERSION = "2026-01-23"


def get_delivery_report(emulator: Emulator, message_id: str):
    """``GET /deliveryReports/{id}``. azure-communication-sms 1.1.0 has no method for it, so the
    request goes through an azure-core pipeline with the SDK's own HMAC signing policy."""
    from azure.communication.sms._shared.auth_policy_utils import get_authentication_policy
    from azure.core import PipelineClient
    from azure.core.credentials import AzureKeyCredential
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest

    endpoint = emulator.https_endpoint.rstrip("/")
    client = PipelineClient(
        endpoint,
        policies=[RetryPolicy(retry_total=0), get_authentication_policy(endpoint, AzureKeyCredential(emulator.access_key))],
    )
    with client:
        response = client.send_request(
            HttpRequest("GET", f"{endpoint}/deliveryReports/{message_id}", params={"api-version": DELIVERY_REPORT_API_VERSION})
        )
        response.read()
        return response


class TestSmsCarrierOutageFixture:
    def test_one_recipient_refused_and_one_delivery_report_failed(self, start_emulator):
        emulator = start_emulator("--fixtures", FIXTURES_DIR / "sms-carrier-outage.yaml")
        client = sms_client(emulator)

        delivered_late, refused = client.send(
            from_=FROM, to=["+14255550180", "+14255550199"], message="outage", enable_delivery_report=True
        )

        assert delivered_late.to == "+14255550180"
        assert delivered_late.successful is True and delivered_late.http_status_code == 202
        assert delivered_late.message_id.startswith("Outgoing_")
        assert refused.to == "+14255550199"
        assert refused.successful is False
        assert refused.http_status_code == 503
        assert refused.error_message == "The carrier for this number is unavailable."
        assert refused.message_id is None
        assert [m["to"] for m in emulator.sent_sms()] == ["+14255550180"]
        # Not there yet: the report is due 5 s later on the emulator's clock.
        assert get_delivery_report(emulator, delivered_late.message_id).status_code == 404

        emulator.advance_clock("5s")

        response = get_delivery_report(emulator, delivered_late.message_id)
        assert response.status_code == 200, response.text()
        report = response.json()
        assert report["messageId"] == delivered_late.message_id
        assert (report["from"], report["to"]) == (FROM, "+14255550180")
        assert report["deliveryStatus"] == "Failed"
        assert report["deliveryStatusDetails"] == "Carrier outage: the message could not be delivered."
        assert report["deliveryAttempts"][0]["segmentsFailed"] == 1
        journal = emulator.journal("operation=Sms.Send")
        assert [(e["status"], e["rule"]) for e in journal] == [(202, "carrier-drops-messages,carrier-unreachable")]


# --------------------------------------------------------------------------- token-expiry.yaml
TOKEN_EXPIRY_THREAD = "19:acsemu_token_expiry@thread.v2"
# HMAC requests are signed with the real time and checked against the emulator's clock: after a
# 61-minute advance the Identity calls of a token refresher need a wider skew.
WIDE_SKEW = ("--clock-skew", "3h")


class TestTokenExpiryFixture:
    @staticmethod
    def carol_token(emulator: Emulator) -> str:
        """A chat token for carol with the shortest life the API allows (60 minutes; without
        ``token_expires_in`` a token lives 24 hours)."""
        from azure.communication.identity import CommunicationTokenScope, CommunicationUserIdentifier

        return identity_client(emulator).get_token(
            CommunicationUserIdentifier(fixture_identity("carol")),
            [CommunicationTokenScope.CHAT],
            token_expires_in=timedelta(minutes=60),
        ).token

    def test_carols_id_is_derived_from_her_name(self, start_emulator):
        from azure.communication.chat import ChatClient, CommunicationTokenCredential

        emulator = start_emulator("--fixtures", FIXTURES_DIR / "token-expiry.yaml")
        listed = emulator.get_json("/_emulator/identities")["value"]
        assert sorted((i["name"], i["id"], i["resource"]) for i in listed) == [
            ("carol", fixture_identity("carol"), "default"),
            ("dave", fixture_identity("dave"), "default"),
        ]

        chat = ChatClient(emulator.https_endpoint, CommunicationTokenCredential(self.carol_token(emulator)))
        participants = chat.get_chat_thread_client(TOKEN_EXPIRY_THREAD).list_participants()

        assert sorted(p.identifier.raw_id for p in participants) == sorted(
            [fixture_identity("carol"), fixture_identity("dave")]
        )

    def test_the_clock_expires_the_token_and_the_next_call_gets_401(self, start_emulator):
        from azure.communication.chat import ChatClient, CommunicationTokenCredential

        emulator = start_emulator("--fixtures", FIXTURES_DIR / "token-expiry.yaml")
        thread = ChatClient(
            emulator.https_endpoint, CommunicationTokenCredential(self.carol_token(emulator))
        ).get_chat_thread_client(TOKEN_EXPIRY_THREAD)
        assert thread.get_properties().topic == "Expiry drill"

        emulator.advance_clock("61m")

        with pytest.raises(HttpResponseError) as raised:
            thread.get_properties()
        assert raised.value.status_code == 401
        assert statuses(emulator, "Chat.GetThread") == [200, 401]

    def test_a_refresher_is_not_asked_while_the_sdk_thinks_the_token_is_valid(self, start_emulator):
        """CommunicationTokenCredential decides to refresh with the *local* clock (and azure-core
        does not retry a 401 without a claims challenge), so moving only the emulator's clock
        past a 60-minute token's expiry is not something the refresher ever learns about."""
        from azure.communication.chat import ChatClient, CommunicationTokenCredential

        emulator = start_emulator("--fixtures", FIXTURES_DIR / "token-expiry.yaml", *WIDE_SKEW)
        refreshed: list[str] = []

        def refresher():
            refreshed.append(self.carol_token(emulator))
            return create_access_token(refreshed[-1])

        credential = CommunicationTokenCredential(self.carol_token(emulator), token_refresher=refresher)
        thread = ChatClient(emulator.https_endpoint, credential).get_chat_thread_client(TOKEN_EXPIRY_THREAD)
        assert thread.get_properties().topic == "Expiry drill"
        emulator.advance_clock("61m")

        for _ in range(2):
            with pytest.raises(HttpResponseError) as raised:
                thread.get_properties()
            assert raised.value.status_code == 401
        assert refreshed == []

    def test_a_refresher_recovers_once_the_sdk_sees_the_token_expiring(self, start_emulator):
        """With tokens that the SDK itself sees expiring (--token-lifetime 90s is inside its
        2-minute on-demand refresh window), every call asks the refresher first: after the clock
        jumps 61 minutes the old token is dead (401 without a refresher) but the refreshed one
        works."""
        from azure.communication.chat import ChatClient, CommunicationTokenCredential

        emulator = start_emulator(
            "--fixtures", FIXTURES_DIR / "token-expiry.yaml", "--token-lifetime", "90s", *WIDE_SKEW
        )
        refreshed: list[str] = []

        def refresher():
            refreshed.append(self.carol_token(emulator))
            return create_access_token(refreshed[-1])

        first = self.carol_token(emulator)
        stale = ChatClient(emulator.https_endpoint, CommunicationTokenCredential(first))
        fresh = ChatClient(emulator.https_endpoint, CommunicationTokenCredential(first, token_refresher=refresher))
        assert fresh.get_chat_thread_client(TOKEN_EXPIRY_THREAD).get_properties().topic == "Expiry drill"

        emulator.advance_clock("61m")

        with pytest.raises(HttpResponseError) as raised:
            stale.get_chat_thread_client(TOKEN_EXPIRY_THREAD).get_properties()
        assert raised.value.status_code == 401
        before = len(refreshed)
        assert fresh.get_chat_thread_client(TOKEN_EXPIRY_THREAD).get_properties().topic == "Expiry drill"
        assert len(refreshed) > before
        assert statuses(emulator, "Chat.GetThread") == [200, 401, 200]


def create_access_token(token: str):
    """An ``AccessToken`` with the JWT's own expiry, as a token refresher must return."""
    from azure.communication.chat._shared.utils import create_access_token as sdk_create_access_token

    return sdk_create_access_token(token)
