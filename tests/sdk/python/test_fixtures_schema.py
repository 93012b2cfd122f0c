"""The fixture file schema (schemas/fixtures.schema.json) against the emulator that reads the files.

- Every example in fixtures/ validates against the schema, names it in its first line, and loads
  into a running emulator (``POST /_emulator/fixtures`` and ``--fixtures``).
- A table of small documents, valid and broken, gets the same verdict from the schema and from
  the emulator: the schema cannot drift from the Rust model without a test failing.
- The schema's operation names are exactly what ``GET /_emulator/operations`` returns.

Fixture loads change an emulator for its whole life, so every load here goes to a dedicated
emulator process (plain HTTP, control API only).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from acs_emulator import _NO_PROXY_OPENER, Emulator

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO_ROOT / "schemas" / "fixtures.schema.json"
EXAMPLES = sorted((REPO_ROOT / "fixtures").glob("*.yaml")) + sorted((REPO_ROOT / "fixtures").glob("*.json"))
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/fixtures.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, document) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


@pytest.fixture
def fresh_emulator():
    """A dedicated emulator without fixtures (plain HTTP only), stopped after the test."""
    with Emulator() as emulator:
        yield emulator


# --------------------------------------------------------------------------- the examples
def test_there_are_examples():
    assert len(EXAMPLES) >= 5, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_fixture_validates_against_the_schema(path: Path, validator):
    document = yaml.safe_load(path.read_text())

    assert schema_errors(validator, document) == []


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.suffix == ".yaml"], ids=lambda p: p.name)
def test_example_fixture_names_the_schema_for_editors(path: Path):
    assert path.read_text().splitlines()[0] == SCHEMA_LINE


def declared_counts(document: dict) -> dict:
    """What the emulator's load summary should count for a fixture document."""
    threads = document.get("threads") or []
    return {
        "resources": len(document.get("resources") or []),
        "identities": len(document.get("identities") or []),
        "threads": len(threads),
        "messages": sum(len(t.get("messages") or []) for t in threads),
        "optOuts": len(document.get("optOuts") or []),
        "emailDomains": len(document.get("emailDomains") or []),
        "availablePhoneNumbers": len(document.get("availablePhoneNumbers") or []),
        "purchasedPhoneNumbers": len(document.get("purchasedPhoneNumbers") or []),
        "rooms": len(document.get("rooms") or []),
        "rules": len(document.get("rules") or []),
        "subscriptions": len(document.get("subscriptions") or []),
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_fixture_loads_at_runtime(path: Path, fresh_emulator: Emulator):
    text = path.read_text()

    status, body = fresh_emulator.load_fixture(text, yaml=path.suffix == ".yaml")

    assert status == 201, body
    assert body == {"source": "request body", **declared_counts(yaml.safe_load(text))}
    listed = fresh_emulator.get_json("/_emulator/fixtures")["value"]
    assert listed == [body]
    # Rule names are unique per process: the same file a second time is refused as a whole;
    # resources it declares clash with the running ones first (409).
    declared = declared_counts(yaml.safe_load(text))
    if declared["rules"]:
        again, error = fresh_emulator.load_fixture(text)
        if declared["resources"]:
            assert again == 409, error
            assert error["error"]["code"] == "Conflict"
            assert "already" in error["error"]["message"]
        else:
            assert again == 400, error
            assert error["error"]["code"] == "InvalidFixture"
            assert "twice" in error["error"]["message"]
        assert fresh_emulator.get_json("/_emulator/fixtures")["value"] == [body]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_fixture_loads_at_start_up(path: Path):
    with Emulator(extra_args=("--fixtures", str(path))) as emulator:
        listed = emulator.get_json("/_emulator/fixtures")["value"]

    assert len(listed) == 1
    assert {k: v for k, v in listed[0].items() if k != "source"} == declared_counts(yaml.safe_load(path.read_text()))


# --------------------------------------------------------------------------- operation names
def test_schema_operation_names_are_the_emulators(schema, emulator: Emulator):
    served = emulator.get_json("/_emulator/operations")["value"]

    assert schema["$defs"]["operationName"]["enum"] == served
    services = sorted({name.split(".")[0] for name in served})
    wildcards = schema["$defs"]["operationPattern"]["anyOf"][1]["enum"]
    assert sorted(wildcards) == sorted(["*", *(f"{s}.*" for s in services)])


# --------------------------------------------------------------------------- schema == emulator
def rule(**fields) -> dict:
    """A fixture with one rule; a throttling rule unless fields replace its parts."""
    body = {"name": "r", "match": {"operation": "Sms.Send"}, "respond": {"status": 429}}
    body.update(fields)
    return {"rules": [{k: v for k, v in body.items() if v is not None}]}


KEY = "Y29udG9zby1wcmltYXJ5LWtleS1mb3ItdGhlLWFjcy1lbXVsYXRvci0wMDAwMDAwMA=="
RID = "acacacac-0000-4000-8000-000000000001"  # the default resource id

# (id, document, valid). A document is a dict (sent as JSON) or a str (sent as YAML).
CASES = [
    # Top level and each section.
    ("empty", {}, True),
    ("schema-and-description", {"$schema": "x.json", "description": "d"}, True),
    ("unknown-top-level-field", {"rule": []}, False),
    ("null-section", {"rules": None}, False),
    # Resources.
    ("resource", {"resources": [{"name": "contoso", "accessKey": KEY, "phoneNumbers": ["+18005550111"],
                                 "resourceId": "c0c0c0c0-0000-4000-8000-000000000001", "location": "europe",
                                 "endpoints": ["https://contoso.localhost:8443"], "entraClients": None}]}, True),
    ("resource-id-simple-form", {"resources": [{"name": "c", "accessKey": KEY,
                                                "resourceId": "c0c0c0c000004000800000000000000a"}]}, True),
    ("resource-named-default", {"resources": [{"name": "default", "accessKey": KEY}]}, False),
    ("resource-name-with-space", {"resources": [{"name": "con toso", "accessKey": KEY}]}, False),
    ("resource-key-not-base64", {"resources": [{"name": "c", "accessKey": "not base64!"}]}, False),
    ("resource-key-missing", {"resources": [{"name": "c"}]}, False),
    ("resource-unknown-field", {"resources": [{"name": "c", "accessKey": KEY, "key2": KEY}]}, False),
    ("resource-bad-number", {"resources": [{"name": "c", "accessKey": KEY, "phoneNumbers": ["18005550111"]}]}, False),
    ("resource-bad-id", {"resources": [{"name": "c", "accessKey": KEY, "resourceId": "c0c0"}]}, False),
    # Event Grid subscriptions.
    ("subscription", {"subscriptions": [{"endpoint": "http://localhost:7071/api/events",
                                         "eventTypes": ["SMSReceived"], "schema": "CloudEventSchemaV1_0",
                                         "maxEventsPerBatch": 10}]}, True),
    ("subscription-unknown-field", {"subscriptions": [{"endpoint": "http://localhost:7071/", "colour": 1}]}, False),
    ("subscription-bad-schema", {"subscriptions": [{"endpoint": "http://localhost:7071/", "schema": "Nope"}]}, False),
    ("subscription-no-endpoint", {"subscriptions": [{"name": "abc"}]}, False),
    ("subscription-bad-endpoint", {"subscriptions": [{"endpoint": "ftp://localhost/"}]}, False),
    # Rooms.
    ("room", {"identities": [{"name": "alice"}, {"name": "bob"}],
              "rooms": [{"id": "99460161060023207", "validFrom": "2030-01-01T00:00:00.123456Z",
                         "validUntil": "2030-02-01T00:00:00Z", "pstnDialOutEnabled": True,
                         "participants": ["alice", {"user": "bob", "role": "Presenter"}]}]}, True),
    ("room-defaults", {"rooms": [{}]}, True),
    ("room-bad-id", {"rooms": [{"id": "123"}]}, False),
    ("room-bad-role", {"identities": [{"name": "alice"}],
                       "rooms": [{"participants": [{"user": "alice", "role": "Kafka"}]}]}, False),
    ("room-unknown-field", {"rooms": [{"topic": "x"}]}, False),
    # Identities.
    ("identity-name", {"identities": [{"name": "alice"}]}, True),
    ("identity-raw-id", {"identities": [{"id": f"8:acs:{RID}_0000-abc"}]}, True),
    ("identity-neither", {"identities": [{"resource": "default"}]}, False),
    ("identity-nulls", {"identities": [{"name": None, "id": None}]}, False),
    ("identity-bad-id", {"identities": [{"id": "8:acs:nope_1"}]}, False),
    ("identity-unknown-field", {"identities": [{"name": "a", "displayName": "A"}]}, False),
    # Threads, participants, messages.
    ("thread", {"identities": [{"name": "a"}, {"name": "b"}],
                "threads": [{"id": "19:acsemu_x@thread.v2", "topic": "t", "createdBy": "b",
                             "participants": ["a", {"user": "b", "displayName": "B"}],
                             "messages": [{"from": "a", "content": "hi", "type": "HTML", "senderDisplayName": "A"}]}]},
     True),
    ("thread-without-participants", {"identities": [{"name": "a"}], "threads": [{"topic": "t", "participants": []}]},
     False),
    ("thread-bad-id", {"identities": [{"name": "a"}], "threads": [{"id": "19:x", "topic": "t", "participants": ["a"]}]},
     False),
    ("thread-without-topic", {"identities": [{"name": "a"}], "threads": [{"participants": ["a"]}]}, False),
    ("participant-unknown-field", {"identities": [{"name": "a"}],
                                   "threads": [{"topic": "t", "participants": [{"user": "a", "displayname": "A"}]}]},
     False),
    ("message-type-markdown", {"identities": [{"name": "a"}],
                               "threads": [{"topic": "t", "participants": ["a"],
                                            "messages": [{"from": "a", "content": "x", "type": "markdown"}]}]}, False),
    ("message-unknown-field", {"identities": [{"name": "a"}],
                               "threads": [{"topic": "t", "participants": ["a"],
                                            "messages": [{"from": "a", "text": "x", "content": "x"}]}]}, False),
    # Exact threads (`createdOn`: what snapshots write) and the times snapshots keep.
    ("exact-thread", {"identities": [{"name": "a", "createdOn": "2026-01-02T03:04:05.123456789Z"},
                                     {"name": "b", "createdOn": "2026-01-02T03:04:05Z",
                                      "deletedOn": "2026-01-03T00:00:00Z"}],
                      "threads": [{"id": "19:acsemu_x@thread.v2", "topic": "t", "createdOn": "2026-01-02T03:04:05Z",
                                   "createdBy": "a", "metadata": {"k": "v"},
                                   "retentionPolicy": {"kind": "threadCreationDate", "deleteThreadAfterDays": 30},
                                   "participants": ["a", {"user": "b", "displayName": "B", "metadata": {"x": "y"},
                                                          "shareHistoryTime": "2026-01-02T03:04:05Z"},
                                                    "4:+14255550123"],
                                   "messages": [
                                       {"id": "1000", "sequenceId": 1, "type": "participantAdded", "initiator": "a",
                                        "createdOn": "2026-01-02T03:04:05Z", "participants": ["a", "b"]},
                                       {"id": "1001", "type": "topicUpdated", "initiator": "a", "topic": "t",
                                        "createdOn": "2026-01-02T03:04:05Z"},
                                       {"id": "1002", "version": "1005", "from": "b", "content": "hi",
                                        "createdOn": "2026-01-02T03:04:06Z", "editedOn": "2026-01-02T03:04:09Z",
                                        "metadata": {"m": "1"}},
                                       {"id": "1003", "from": "a", "content": "", "type": "html",
                                        "createdOn": "2026-01-02T03:04:07Z", "deletedOn": "2026-01-02T03:04:08Z"}],
                                   "readReceipts": [{"user": "a", "messageId": "1002",
                                                     "readOn": "2026-01-02T03:05:00Z"}]}]}, True),
    ("exact-message-without-id", {"identities": [{"name": "a"}],
                                  "threads": [{"topic": "t", "createdOn": "2026-01-02T03:04:05Z", "participants": ["a"],
                                               "messages": [{"from": "a", "content": "x",
                                                             "createdOn": "2026-01-02T03:04:05Z"}]}]}, False),
    ("exact-system-message-without-initiator", {"identities": [{"name": "a"}],
                                                "threads": [{"topic": "t", "createdOn": "2026-01-02T03:04:05Z",
                                                             "participants": ["a"],
                                                             "messages": [{"id": "1", "type": "topicUpdated",
                                                                           "createdOn": "2026-01-02T03:04:05Z"}]}]},
     False),
    ("exact-message-bad-id", {"identities": [{"name": "a"}],
                              "threads": [{"topic": "t", "createdOn": "2026-01-02T03:04:05Z", "participants": ["a"],
                                           "messages": [{"id": "x1", "from": "a", "content": "x",
                                                         "createdOn": "2026-01-02T03:04:05Z"}]}]}, False),
    ("read-receipts-without-created-on", {"identities": [{"name": "a"}],
                                          "threads": [{"topic": "t", "participants": ["a"],
                                                       "messages": [{"from": "a", "content": "x"}],
                                                       "readReceipts": [{"user": "a", "messageId": "1",
                                                                         "readOn": "2026-01-02T03:05:00Z"}]}]}, False),
    ("message-id-without-created-on", {"identities": [{"name": "a"}],
                                       "threads": [{"topic": "t", "participants": ["a"],
                                                    "messages": [{"id": "1", "from": "a", "content": "x"}]}]}, False),
    ("share-history-without-created-on", {"identities": [{"name": "a"}],
                                          "threads": [{"topic": "t", "participants": [
                                              {"user": "a", "shareHistoryTime": "2026-01-02T03:04:05Z"}]}]}, False),
    ("thread-metadata-and-retention", {"identities": [{"name": "a"}],
                                       "threads": [{"topic": "t", "participants": ["a"], "metadata": {"k": "v"},
                                                    "retentionPolicy": {"kind": "none"},
                                                    "messages": [{"from": "a", "content": "x",
                                                                  "metadata": {"m": "1"}}]}]}, True),
    ("room-created-at", {"rooms": [{"createdAt": "2026-01-02T03:04:05.123456Z",
                                    "validFrom": "2026-01-02T03:04:05Z"}]}, True),
    # Available phone numbers.
    ("available-number", {"availablePhoneNumbers": [{"phoneNumber": "+18335550199", "phoneNumberType": "tollFree",
                                                     "capabilities": {"sms": "outbound"}, "cost": 3.5}]}, True),
    ("available-number-bad-type", {"availablePhoneNumbers": [{"phoneNumber": "+18335550199", "phoneNumberType": "landline"}]}, False),
    ("available-number-bad-capability", {"availablePhoneNumbers": [{"phoneNumber": "+18335550199", "phoneNumberType": "tollFree",
                                                                    "capabilities": {"sms": "both"}}]}, False),
    ("available-number-no-number", {"availablePhoneNumbers": [{"phoneNumberType": "tollFree"}]}, False),
    # Bought phone numbers.
    ("purchased-number", {"purchasedPhoneNumbers": [{"phoneNumber": "+18335550199", "phoneNumberType": "tollFree",
                                                     "capabilities": {"calling": "none", "sms": "outbound"},
                                                     "cost": 2, "purchaseDate": "2026-01-02T03:04:05.123Z"}],
                          "optOuts": [{"from": "+18335550199", "to": "+14255550177"}]}, True),
    ("purchased-number-bad-type", {"purchasedPhoneNumbers": [{"phoneNumber": "+18335550199",
                                                              "phoneNumberType": "landline"}]}, False),
    ("purchased-number-unknown-field", {"purchasedPhoneNumbers": [{"phoneNumber": "+18335550199",
                                                                   "phoneNumberType": "tollFree", "owned": True}]},
     False),
    # Opt-outs.
    ("opt-out", {"optOuts": [{"from": "+18005550100", "to": "+14255550177"}]}, True),
    ("opt-out-bad-number", {"optOuts": [{"from": "+18005550100", "to": "4255550177"}]}, False),
    ("opt-out-unknown-field", {"optOuts": [{"from": "+18005550100", "to": "+14255550177", "reason": "x"}]}, False),
    # Rules: operations.
    ("rule", rule(), True),
    ("operation-list", rule(match={"operation": ["Sms.Send", "Chat.GetThread"]}), True),
    ("operation-service-wildcard", rule(match={"operation": "Chat.*"}), True),
    ("operation-everything", rule(match={"operation": "*"}), True),
    ("operation-wrong-case", rule(match={"operation": "Sms.send"}), False),
    ("operation-unknown-service", rule(match={"operation": "Calling.*"}), False),
    ("operation-rooms-service", rule(match={"operation": "Rooms.*"}), True),
    ("operation-empty-list", rule(match={"operation": []}), False),
    ("operation-missing", rule(match={"to": "+14255550123"}), False),
    ("rule-name-blank", rule(name="  "), False),
    ("rule-unknown-field", rule(colour="red"), False),
    ("match-unknown-field", rule(match={"operation": "Sms.Send", "method": "POST"}), False),
    # Rules: match fields.
    ("match-everything", rule(match={"operation": "Sms.Send", "resource": "default", "apiVersion": "2021-03-07",
                                     "to": ["+14255550123"], "from": "+18005550100", "body": {"/message": "x", "": {}}}),
     True),
    ("match-to-empty-list-any-operation", rule(match={"operation": "*", "to": []}), True),
    ("match-to-on-chat", rule(match={"operation": "Chat.SendMessage", "to": "+14255550123"}), False),
    ("match-from-on-everything", rule(match={"operation": "*", "from": "+18005550100"}), False),
    ("match-to-not-e164", rule(match={"operation": "Sms.Send", "to": "4255550123"}), False),
    ("match-thread", rule(match={"operation": "Chat.*", "threadId": "19:acsemu_1@thread.v2"}), True),
    ("match-thread-on-sms", rule(match={"operation": "Sms.Send", "threadId": "19:acsemu_1@thread.v2"}), False),
    ("match-user", rule(match={"operation": "Identity.IssueAccessToken", "userId": f"8:acs:{RID}_u1"}), True),
    ("match-user-bad", rule(match={"operation": "Identity.IssueAccessToken", "userId": "alice"}), False),
    ("match-body-not-a-pointer", rule(match={"operation": "Sms.Send", "body": {"message": "x"}}), False),
    # Rules: scenario, times, probability, priority.
    ("state-machine", rule(scenario="s", whenState="Started", setState="next"), True),
    ("when-state-without-scenario", rule(whenState="Started"), False),
    ("set-state-only", rule(respond=None, scenario="s", setState="next"), True),
    ("set-state-without-scenario", rule(respond=None, setState="next"), False),
    ("blank-state", rule(scenario="s", setState=" "), False),
    ("times", rule(times=1, priority=-3, probability=1), True),
    ("times-zero", rule(times=0), False),
    ("probability-zero", rule(probability=0), False),
    ("probability-above-one", rule(probability=1.5), False),
    ("description-and-default-priority", rule(priority=None, description="what it is for"), True),
    # Rules: actions.
    ("no-action", rule(respond=None), False),
    ("delay-only-string", rule(respond=None, delay="250ms"), True),
    # Compound, within the emulator's 10-minute cap on scripted delays (which no schema pattern states).
    ("delay-compound", rule(delay="9m 30s"), True),
    ("delay-fraction", rule(delay="1.5s"), True),
    ("delay-zero", rule(delay="0"), True),
    ("delay-number", rule(delay=0.25), True),
    ("delay-no-unit", rule(delay="5"), False),
    ("delay-negative-string", rule(delay="-1s"), False),
    ("delay-negative-number", rule(delay=-1), False),
    ("delay-words", rule(delay="soon"), False),
    ("respond-full", rule(respond={"status": 503, "code": "ServiceUnavailable", "message": "m",
                                   "headers": {"Retry-After": "1"}, "body": {"any": ["json"]}}), True),
    ("respond-status-99", rule(respond={"status": 99}), False),
    ("respond-status-600", rule(respond={"status": 600}), False),
    ("respond-unknown-field", rule(respond={"status": 503, "reason": "x"}), False),
    ("respond-header-number", rule(respond={"status": 429, "headers": {"Retry-After": 1}}), False),
    ("respond-and-fault", rule(fault="emptyResponse"), False),

    ("fault", rule(respond=None, fault="connectionReset"), True),
    ("fault-truncated", rule(respond=None, fault="truncatedBody", delay="10ms"), True),
    ("fault-unknown", rule(respond=None, fault="timeout"), False),
    ("fault-wrong-case", rule(respond=None, fault="EmptyResponse"), False),
    # Rules: sms outcomes.
    ("sms-result", rule(respond=None, sms={"result": {"status": 503, "errorMessage": "x"}}), True),
    ("sms-report", rule(respond=None, sms={"deliveryReport": {"status": "Failed", "after": "5s", "details": "d"}}),
     True),
    ("sms-report-delivered-with-number", rule(respond=None, sms={"deliveryReport": {"status": "Delivered", "after": 2}}),
     True),
    ("sms-report-wrong-case", rule(respond=None, sms={"deliveryReport": {"status": "failed"}}), False),
    ("sms-report-pending", rule(respond=None, sms={"deliveryReport": {"status": "Pending"}}), False),
    ("sms-both", rule(respond=None, sms={"result": {"status": 503}, "deliveryReport": {"status": "Failed"}}), False),
    ("sms-neither", rule(respond=None, sms={}), False),
    ("sms-result-2xx", rule(respond=None, sms={"result": {"status": 202}}), False),
    ("sms-on-chat", rule(respond=None, match={"operation": "Chat.SendMessage"}, sms={"result": {"status": 503}}), False),
    ("sms-on-sms-wildcard", rule(respond=None, match={"operation": "Sms.*"}, sms={"result": {"status": 503}}), False),
    ("sms-on-send-twice", rule(respond=None, match={"operation": ["Sms.Send", "Sms.Send"]},
                               sms={"result": {"status": 503}}), True),
    ("sms-unknown-field", rule(respond=None, sms={"result": {"status": 503}, "retry": True}), False),
    ("sms-result-unknown-field", rule(respond=None, sms={"result": {"status": 503, "message": "x"}}), False),
    ("sms-report-unknown-field", rule(respond=None, sms={"deliveryReport": {"status": "Failed", "delay": "1s"}}),
     False),
    ("sms-report-bad-after", rule(respond=None, sms={"deliveryReport": {"status": "Failed", "after": "later"}}), False),
    # Email: linked domains.
    ("email-domains", {"resources": [{"name": "c", "accessKey": KEY, "emailDomains": ["contoso.com"]}],
                       "emailDomains": [{"domain": "fabrikam.com"}, {"domain": "mail.contoso.com", "resource": "c"}]},
     True),
    ("email-domain-not-a-domain", {"emailDomains": [{"domain": "fabrikam"}]}, False),
    ("email-domain-with-space", {"emailDomains": [{"domain": "fab rikam.com"}]}, False),
    ("email-domain-unknown-field", {"emailDomains": [{"domain": "fabrikam.com", "verified": True}]}, False),
    ("email-domain-string", {"emailDomains": ["fabrikam.com"]}, False),
    ("resource-email-domain-bad", {"resources": [{"name": "c", "accessKey": KEY, "emailDomains": ["-x.com"]}]}, False),
    # Rules: email outcomes.
    ("email-result", rule(respond=None, match={"operation": "Email.Send", "to": "*@gmail.test"},
                          email={"result": {"status": "Failed", "code": "EmailDropped", "message": "m"}}), True),
    ("email-canceled", rule(respond=None, match={"operation": "Email.Send"}, email={"result": {"status": "Canceled"}}),
     True),
    ("email-report", rule(respond=None, match={"operation": "Email.Send", "to": ["a@example.com", "*@bounce.test"],
                                               "from": "*@contoso.com"},
                          email={"deliveryReport": {"status": "Bounced", "after": "2s", "details": "d"},
                                 "completeAfter": "5s"}), True),
    ("email-complete-after-only", rule(respond=None, match={"operation": "Email.Send"}, email={"completeAfter": 3}),
     True),
    ("email-neither", rule(respond=None, match={"operation": "Email.Send"}, email={}), False),
    ("email-both", rule(respond=None, match={"operation": "Email.Send"},
                        email={"result": {"status": "Failed"}, "deliveryReport": {"status": "Bounced"}}), False),
    ("email-result-succeeded", rule(respond=None, match={"operation": "Email.Send"},
                                    email={"result": {"status": "Succeeded"}}), False),
    ("email-report-expanded", rule(respond=None, match={"operation": "Email.Send"},
                                   email={"deliveryReport": {"status": "Expanded"}}), False),
    ("email-on-sms", rule(respond=None, email={"completeAfter": "1s"}), False),
    ("email-and-respond", rule(match={"operation": "Email.Send"}, email={"completeAfter": "1s"}), False),
    ("email-blank-code", rule(respond=None, match={"operation": "Email.Send"},
                              email={"result": {"status": "Failed", "code": " "}}), False),
    ("match-email-to-number", rule(match={"operation": "Email.Send", "to": "+14255550123"}), False),
    ("match-email-to-on-sms", rule(match={"operation": "Sms.Send", "to": "*@example.com"}), False),
    ("match-email-to-mixed-services", rule(match={"operation": ["Email.Send", "Sms.Send"], "to": "*@x.com"}), False),
    ("match-email-to-any-email-op", rule(match={"operation": "Email.*", "to": "bob@example.com"}), True),
    ("email-throttle", rule(match={"operation": "Email.GetSendResult"}), True),
    # Rules: expectations.
    ("expect", rule(expect={"count": 1}), True),
    ("expect-range", rule(expect={"min": 0, "max": 3}), True),
    ("expect-empty", rule(expect={}), False),
    ("expect-negative", rule(expect={"min": -1}), False),
    ("expect-unknown-field", rule(expect={"exactly": 1}), False),
    # null: an absent optional value for every Option<_> field, an error elsewhere.
    ("explicit-nulls", {"rules": [{"name": "r", "description": None, "scenario": None, "whenState": None,
                                   "setState": None, "times": None, "probability": None, "delay": None,
                                   "match": {"operation": "Sms.Send", "resource": None, "apiVersion": None,
                                             "to": None, "from": None, "threadId": None, "userId": None},
                                   "respond": {"status": 429, "code": None, "message": None, "body": None},
                                   "fault": None, "sms": None, "expect": None}]}, True),
    ("explicit-nulls-elsewhere", {"$schema": None, "description": None,
                                  "resources": [{"name": "c", "accessKey": KEY, "secondaryAccessKey": None,
                                                 "resourceId": None, "location": None, "entraClients": None}],
                                  "identities": [{"name": "a", "id": None, "resource": None}],
                                  "threads": [{"id": None, "resource": None, "topic": "t", "createdBy": None,
                                               "participants": [{"user": "a", "displayName": None}],
                                               "messages": [{"from": "a", "content": "x", "type": None,
                                                             "senderDisplayName": None}]}],
                                  "optOuts": [{"resource": None, "from": "+18005550100", "to": "+14255550177"}]},
     True),
    ("null-only-action", {"rules": [{"name": "r", "match": {"operation": "Sms.Send"}, "respond": None,
                                     "delay": None}]}, False),
    ("null-priority", {"rules": [{"name": "r", "match": {"operation": "Sms.Send"}, "respond": {"status": 429},
                                  "priority": None}]}, False),
    ("null-headers", {"rules": [{"name": "r", "match": {"operation": "Sms.Send"},
                                 "respond": {"status": 429, "headers": None}}]}, False),
    ("null-match-body", {"rules": [{"name": "r", "match": {"operation": "Sms.Send", "body": None},
                                    "respond": {"status": 429}}]}, False),
    ("null-endpoints", {"resources": [{"name": "c", "accessKey": KEY, "endpoints": None}]}, False),
    ("null-sms-parts", {"rules": [{"name": "r", "match": {"operation": "Sms.Send"},
                                   "sms": {"result": None, "deliveryReport": {"status": "Failed", "after": None,
                                                                              "details": None}}}]}, True),
    # YAML as editors write it.
    ("yaml-throttling", "rules:\n  - name: t\n    match: {operation: Sms.Send}\n    respond:\n      status: 429\n"
                        "      headers: {Retry-After: \"1\"}\n", True),
    ("yaml-delay-plain-scalar", "rules:\n  - name: t\n    match: {operation: Sms.Send}\n    delay: 5s\n", True),
    ("yaml-unknown-field", "identities:\n  - nam: alice\n", False),
]


@pytest.fixture(scope="module")
def refusing_emulator():
    """One emulator for the documents that must be refused: a refused load changes nothing."""
    with Emulator() as emulator:
        yield emulator


@pytest.mark.parametrize("case_id,document,valid", CASES, ids=[c[0] for c in CASES])
def test_schema_and_emulator_agree(case_id, document, valid, validator, request):
    # An accepted load stays for the emulator's life (names, resources): each gets a new one.
    emulator = request.getfixturevalue("fresh_emulator" if valid else "refusing_emulator")
    if isinstance(document, str):
        parsed, (status, body) = yaml.safe_load(document), emulator.load_fixture(document, yaml=True)
    else:
        parsed, (status, body) = document, emulator.load_fixture(json.dumps(document), yaml=False)
    errors = schema_errors(validator, parsed)

    assert (errors == []) is valid, f"schema says {errors or 'valid'}; expected {'valid' if valid else 'invalid'}"
    if valid:
        assert status == 201, f"the emulator refused a document the schema accepts: {body}"
    else:
        assert status == 400, f"the emulator accepted a document the schema refuses: {body}"
        assert body["error"]["code"] == "InvalidFixture"


# --------------------------------------------------------------------------- snapshots
SNAPSHOT_SOURCE = {
    "identities": [{"name": "alice"}, {"name": "bob"}],
    "threads": [{"topic": "snapshot", "participants": ["alice", {"user": "bob", "displayName": "Bob"}],
                 "messages": [{"from": "alice", "content": "hello"}, {"from": "bob", "content": "hi"}]}],
    "optOuts": [{"from": "+18005550100", "to": "+14255550177"}],
    "emailDomains": [{"domain": "fabrikam.com"}],
    "rooms": [{"participants": ["alice"]}],
    "purchasedPhoneNumbers": [{"phoneNumber": "+18335550199", "phoneNumberType": "tollFree"}],
}


class StringTimesLoader(yaml.SafeLoader):
    """YAML 1.2 as the emulator reads it: times are strings (PyYAML's 1.1 resolver makes them
    datetimes, which the schema's strings refuse)."""


StringTimesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def raw_state(emulator: Emulator, query: str) -> tuple[str, str]:
    """``GET /_emulator/state?<query>``: (content type, text)."""
    url = emulator.http_endpoint.rstrip("/") + "/_emulator/state" + (f"?{query}" if query else "")
    with _NO_PROXY_OPENER.open(urllib.request.Request(url), timeout=10) as resp:
        assert resp.status == 200
        return resp.headers["content-type"], resp.read().decode()


def test_a_snapshot_is_a_valid_fixture_that_loads_back(validator, fresh_emulator: Emulator, tmp_path: Path):
    # Arrange: fixture data, then a message sent at run time.
    status, body = fresh_emulator.load_fixture(json.dumps(SNAPSHOT_SOURCE), yaml=False)
    assert status == 201, body
    thread = fresh_emulator.get_json("/_emulator/chat/threads")["value"][0]["id"]
    alice = next(i["id"] for i in fresh_emulator.get_json("/_emulator/identities")["value"] if i.get("name") == "alice")
    status, body = fresh_emulator.control(
        "POST", f"/_emulator/chat/threads/{urllib.parse.quote(thread, safe='')}/messages",
        {"senderId": alice, "content": "sent later"})
    assert status in (200, 201), body

    # Act: both formats.
    yaml_type, yaml_text = raw_state(fresh_emulator, "")
    json_type, json_text = raw_state(fresh_emulator, "format=json")

    # Assert: valid against the schema, and loading either gives the same snapshot back.
    assert yaml_type == "application/yaml" and json_type == "application/json"
    document = json.loads(json_text)
    from_yaml = yaml.load(yaml_text, Loader=StringTimesLoader)
    assert from_yaml.pop("description").startswith("Snapshot of acs-emulator")
    assert from_yaml == {k: v for k, v in document.items() if k != "description"}
    assert schema_errors(validator, from_yaml) == []
    assert schema_errors(validator, document) == []
    assert [m.get("content") for m in document["threads"][0]["messages"] if "from" in m] == [
        "hello", "hi", "sent later"]
    for name, text in (("state.yaml", yaml_text), ("state.json", json_text)):
        path = tmp_path / name
        path.write_text(text)
        with Emulator(extra_args=("--fixtures", str(path))) as copy:
            _, again = raw_state(copy, "format=json")
        again = json.loads(again)
        assert {k: v for k, v in again.items() if k != "description"} == {
            k: v for k, v in document.items() if k != "description"}
