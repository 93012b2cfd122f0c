"""The Phone Numbers API and SIP routing checked against the service's own OpenAPI definitions
(Azure/azure-rest-api-specs,
``specification/communication/data-plane/PhoneNumbers/stable/2025-06-01/phonenumbers.json`` and
``specification/communication/data-plane/SipRouting/stable/2023-03-01/communicationservicessiprouting.json``,
with the common types they refer to; see specs/README.md).

Every answer of every operation is validated against the definition the spec gives for that
operation and status, through the official SDK's pipeline (``send_request``, HMAC): the catalogue
(countries, localities, area codes, offerings), browse, search (202 headers, the operation, the
result, a failed operation's ``error``), purchase, an operation's cancel, owned numbers (list,
get), a capabilities update, release, reservations (create 201, update 200, a partial 207, get,
list, purchase, delete 204), operator information, SIP ``GET``/``PATCH``, and the errors (the
spec's ``CommunicationErrorResponse``). ``date-time`` and ``uuid`` formats are checked too. The
example requests the tests use must be valid against their request definitions.

Where the emulator answers as the real service does and not as the spec writes (recorded answers
of the service in the SDKs' recorded tests), the test says so where it checks it, and
docs/phone-numbers.md lists it ("Checked against the spec").

The spec files are read from ``$ACS_EMULATOR_SPECS`` (default: the repository's ``specs/``):
``PhoneNumbers/2025-06-01/phonenumbers.json``, ``SipRouting/2023-03-01/communicationservicessiprouting.json``
(each with ``examples/``) and ``Common/2022-07-13/common.json``. A missing file fails these
tests, naming the file.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from acs_emulator import Emulator

REPO = Path(__file__).resolve().parents[3]
SPECS = Path(os.environ.get("ACS_EMULATOR_SPECS", REPO / "specs"))
PN_VERSION = "2025-06-01"
SIP_VERSION = "2023-03-01"
PN_SPEC = SPECS / "PhoneNumbers" / PN_VERSION / "phonenumbers.json"
SIP_SPEC = SPECS / "SipRouting" / SIP_VERSION / "communicationservicessiprouting.json"
COMMON_2022 = SPECS / "Common" / "2022-07-13" / "common.json"
# The Phone Numbers spec names Common/stable/2021-03-07/common.json, which is not available
# (specs/README.md): its CommunicationError is taken from the 2022-07-13 common types, unless a
# 2021-03-07 copy is put next to them.
COMMON_2021 = SPECS / "Common" / "2021-03-07" / "common.json"
PN_COMMON_REF = "../../../Common/stable/2021-03-07/common.json"
SIP_COMMON_REF = "../../../Common/stable/2022-07-13/common.json"

CONFIGURED = "+18005550100"  # the emulator's default --phone-number, owned by the resource


def read(path: Path) -> dict:
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: the Phone Numbers and SIP routing spec copies belong under {SPECS} "
            "(specs/README.md lists each file and the commit it comes from)"
        )
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def registry() -> Registry:
    common_2022 = read(COMMON_2022)
    common_2021 = json.loads(COMMON_2021.read_text()) if COMMON_2021.is_file() else common_2022
    pn = json.dumps(read(PN_SPEC)).replace(f"{PN_COMMON_REF}#", "spec:common-2021#")
    sip = json.dumps(read(SIP_SPEC)).replace(f"{SIP_COMMON_REF}#", "spec:common-2022#")
    return Registry().with_resources(
        [
            ("spec:common-2021", Resource.from_contents(common_2021, default_specification=DRAFT4)),
            ("spec:common-2022", Resource.from_contents(common_2022, default_specification=DRAFT4)),
            ("spec:pn", Resource.from_contents(json.loads(pn), default_specification=DRAFT4)),
            ("spec:sip", Resource.from_contents(json.loads(sip), default_specification=DRAFT4)),
        ]
    )


FORMATS = FormatChecker([])


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


def assert_valid(registry: Registry, ref: str, instance) -> None:
    """``ref``: ``pn:Definition``, ``sip:Definition`` or ``common-2022:Definition``."""
    doc, definition = ref.split(":")
    validator = Draft4Validator(
        {"$ref": f"spec:{doc}#/definitions/{definition}"}, registry=registry, format_checker=FORMATS
    )
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{ref}: {[e.message for e in errors]}\n{json.dumps(instance, indent=2)}"


def response_ref(spec: dict, path: str, method: str, status: int) -> str | None:
    """The definition the spec gives for the answer ``status`` of ``method path`` (None: no body)."""
    responses = spec["paths"][path][method.lower()]["responses"]
    answer = responses.get(str(status), responses["default"])
    schema = answer.get("schema")
    return None if schema is None else schema["$ref"]


def declared_headers(spec: dict, path: str, method: str, status: int) -> list[str]:
    return list(spec["paths"][path][method.lower()]["responses"][str(status)].get("headers", {}))


class Api:
    """Calls through the official SDK's pipeline and checks each answer against the spec."""

    def __init__(self, emulator: Emulator, registry: Registry):
        from azure.communication.phonenumbers import PhoneNumbersClient
        from azure.communication.phonenumbers.siprouting import SipRoutingClient
        from azure.core.credentials import AzureKeyCredential

        endpoint = emulator.http_endpoint.rstrip("/")
        credential = AzureKeyCredential(emulator.access_key)
        self.pn_client = PhoneNumbersClient(endpoint, credential)._phone_number_client  # noqa: SLF001
        self.sip_client = SipRoutingClient(endpoint, credential)._rest_service  # noqa: SLF001
        self.registry = registry
        self.pn = read(PN_SPEC)
        self.sip = read(SIP_SPEC)

    def _send(self, client, method: str, url: str, body, merge_patch: bool):
        from azure.core.rest import HttpRequest

        headers = {"Content-Type": "application/merge-patch+json"} if merge_patch else {}
        request = HttpRequest(method, url, json=body, headers=headers)
        response = client.send_request(request)
        return response.status_code, response.headers, (response.json() if response.content else None)

    def call(self, method: str, template: str, status: int, body=None, query: str = "", sip: bool = False, **path):
        """``method template`` (a path of the spec, ``{name}`` filled from ``path``), expected to
        answer ``status``; the body is validated against the spec's definition for it."""
        spec = self.sip if sip else self.pn
        version = SIP_VERSION if sip else PN_VERSION
        url = template
        for name, value in path.items():
            url = url.replace("{" + name + "}", quote(str(value), safe=""))
        url = f"{url}?api-version={version}{query}"
        merge_patch = method == "PATCH"
        got, headers, answer = self._send(self.sip_client if sip else self.pn_client, method, url, body, merge_patch)
        assert got == status, f"{method} {url}: {got} {answer}"
        ref = response_ref(spec, template, method, status)
        if ref is None:
            assert answer is None, f"{method} {url}: the spec declares no body for {status}: {answer}"
        elif answer is None:
            # Only a search's 202 comes without the body the spec declares (see below).
            assert template.endswith(":search") and status == 202, f"{method} {url}: no body, the spec declares {ref}"
        else:
            doc = "sip" if sip else "pn"
            name = ref.rsplit("/", 1)[1]
            if ref.startswith("spec:") or ref.startswith("../"):
                doc = "common-2022"
            assert_valid(self.registry, f"{doc}:{name}", answer)
        if status < 300:
            for header in declared_headers(spec, template, method, status):
                assert header in headers, f"{method} {url}: the spec declares the {header} header"
        else:
            assert headers.get("x-ms-error-code", answer["error"]["code"]) == answer["error"]["code"]
        return answer, headers

    def get_url(self, url: str):
        """A relative URL the service handed out (``Operation-Location``, ``Location``)."""
        from azure.core.rest import HttpRequest

        response = self.pn_client.send_request(HttpRequest("GET", url))
        assert response.status_code == 200, response.text()
        return response.json(), response.headers

    def operation(self, headers, operation_type: str, status: str = "succeeded") -> dict:
        """Polls the operation of a 202 and validates it as a ``PhoneNumberOperation``."""
        op, op_headers = self.get_url(headers["Operation-Location"])
        op = dict(op)
        # The service writes `"resourceLocation": null` for the operations without a result
        # (purchase, release, reservation purchase), as its recorded answers show; the spec types
        # it as a string that may be left out. The emulator keeps the service's null.
        if op.get("resourceLocation") is None and operation_type in ("purchase", "releasePhoneNumber", "reservationPurchase"):
            op.pop("resourceLocation", None)
        assert_valid(self.registry, "pn:PhoneNumberOperation", op)
        assert op["operationType"] == operation_type
        assert op["status"] == status, op
        assert op["id"] == headers["operation-id"]
        if status == "succeeded" and op.get("resourceLocation"):
            assert "Location" in op_headers, "the spec declares Location for a finished operation"
        return op


@pytest.fixture
def api(emulator: Emulator, registry: Registry) -> Api:
    return Api(emulator, registry)


def test_the_example_requests_are_valid(registry):
    folder = PN_SPEC.parent / "examples"
    search = read(folder / "SearchPhoneNumbers.json")["parameters"]["body"]
    assert_valid(registry, "pn:PhoneNumberSearchRequest", search)
    reservation = read(folder / "CreateOrUpdateReservation.json")["parameters"]["reservation"]
    assert_valid(registry, "pn:PhoneNumbersReservation", reservation)
    sip = read(SIP_SPEC.parent / "examples" / "UpdateSipConfiguration.json")["parameters"]["body"]
    assert_valid(registry, "sip:SipConfigurationUpdate", sip)


def test_catalogue(api: Api):
    base = "/availablePhoneNumbers/countries"
    countries, _ = api.call("GET", base, 200)
    assert {c["countryCode"] for c in countries["countries"]} == {"US", "CA"}
    api.call("GET", f"{base}/{{countryCode}}/localities", 200, countryCode="US")
    api.call("GET", f"{base}/{{countryCode}}/localities", 200, query="&administrativeDivision=WA&maxPageSize=1", countryCode="US")
    api.call("GET", f"{base}/{{countryCode}}/areaCodes", 200, query="&phoneNumberType=tollFree", countryCode="US")
    codes, _ = api.call("GET", f"{base}/{{countryCode}}/areaCodes", 200,
                        query="&phoneNumberType=geographic&locality=Redmond&administrativeDivision=WA", countryCode="US")
    assert codes["areaCodes"] == [{"areaCode": "425"}]
    offerings, _ = api.call("GET", f"{base}/{{countryCode}}/offerings", 200, countryCode="US")
    assert offerings["phoneNumberOfferings"]
    api.call("GET", f"{base}/{{countryCode}}/offerings", 400, countryCode="XX")
    browsed, _ = api.call("POST", f"{base}/{{countryCode}}/:browse", 200,
                          {"phoneNumberType": "tollFree", "capabilities": {"sms": "outbound"}}, countryCode="US")
    assert browsed["phoneNumbers"]


def test_search_purchase_update_release(api: Api):
    path = "/availablePhoneNumbers/countries/{countryCode}/:search"
    # The spec's example as written: no toll-free 425 numbers in the emulator, so the search
    # operation fails, with an `error` the spec's CommunicationError describes.
    example = read(PN_SPEC.parent / "examples" / "SearchPhoneNumbers.json")["parameters"]["body"]
    # A search answers 202 without a body, as the service does (its recorded answers: an empty
    # body with `Content-Length: 0`); the spec gives that 202 a PhoneNumberSearchResult schema.
    answer, headers = api.call("POST", path, 202, example, countryCode="US")
    assert answer is None
    failed = api.operation(headers, "search", status="failed")
    assert failed["error"]["code"] == "OutOfStock"

    request = {"phoneNumberType": "tollFree", "assignmentType": "application",
               "capabilities": {"calling": "outbound", "sms": "inbound+outbound"}, "areaCode": "833", "quantity": 2}
    _, headers = api.call("POST", path, 202, request, countryCode="US")
    api.operation(headers, "search")
    result, _ = api.call("GET", "/availablePhoneNumbers/searchResults/{searchId}", 200, searchId=headers["search-id"])
    assert api.get_url(headers["Location"])[0] == result
    numbers = result["phoneNumbers"]
    assert len(numbers) == 2

    answer, headers = api.call("POST", "/availablePhoneNumbers/:purchase", 202, {"searchId": result["searchId"]})
    assert answer is None
    api.operation(headers, "purchase")
    api.call("DELETE", "/phoneNumbers/operations/{operationId}", 204, operationId=headers["operation-id"])

    listed, _ = api.call("GET", "/phoneNumbers", 200)
    assert {CONFIGURED, *numbers} <= {n["phoneNumber"] for n in listed["phoneNumbers"]}
    api.call("GET", "/phoneNumbers", 200, query="&skip=1&top=1")
    owned, _ = api.call("GET", "/phoneNumbers/{phoneNumber}", 200, phoneNumber=numbers[0])
    assert owned["capabilities"] == request["capabilities"]

    # A capabilities update answers 202 with `{"capabilitiesUpdateId": ...}`, as the service
    # does (its recorded answers); the spec gives that 202 a PurchasedPhoneNumber schema. The
    # updated number is what `Location` (and the operation's resourceLocation) leads to.
    path = "/phoneNumbers/{phoneNumber}/capabilities"
    got, headers, answer = api._send(api.pn_client, "PATCH", f"/phoneNumbers/{quote(numbers[0], safe='')}/capabilities"
                                     f"?api-version={PN_VERSION}", {"sms": "inbound"}, merge_patch=True)
    assert got == 202, answer
    assert set(answer) == {"capabilitiesUpdateId"} and answer["capabilitiesUpdateId"] == headers["capabilities-id"]
    for header in declared_headers(api.pn, path, "PATCH", 202):
        assert header in headers
    api.operation(headers, "updatePhoneNumberCapabilities")
    updated, _ = api.get_url(headers["Location"])
    assert_valid(api.registry, "pn:PurchasedPhoneNumber", updated)
    assert updated["capabilities"]["sms"] == "inbound"

    answer, headers = api.call("DELETE", "/phoneNumbers/{phoneNumber}", 202, phoneNumber=numbers[1])
    assert answer is None
    api.operation(headers, "releasePhoneNumber")
    api.call("GET", "/phoneNumbers/{phoneNumber}", 404, phoneNumber=numbers[1])
    api.call("GET", "/availablePhoneNumbers/searchResults/{searchId}", 404, searchId=str(uuid.uuid4()))
    api.call("GET", "/phoneNumbers/operations/{operationId}", 404, operationId="search_" + str(uuid.uuid4()))
    api.call("POST", "/availablePhoneNumbers/countries/{countryCode}/:search", 400, {"phoneNumberType": "tollFree"}, countryCode="US")


def test_reservations(api: Api):
    item = "/availablePhoneNumbers/reservations/{reservationId}"
    browsed, _ = api.call("POST", "/availablePhoneNumbers/countries/{countryCode}/:browse", 200,
                          {"phoneNumberType": "tollFree", "assignmentType": "application"}, countryCode="US")
    first, second, third = browsed["phoneNumbers"][:3]
    rid = str(uuid.uuid4())
    created, _ = api.call("PATCH", item, 201, {"phoneNumbers": {first["id"]: first}}, reservationId=rid)
    assert created["id"] == rid and created["status"] == "active"
    updated, _ = api.call("PATCH", item, 200, {"phoneNumbers": {second["id"]: second}}, reservationId=rid)
    assert set(updated["phoneNumbers"]) == {first["id"], second["id"]}
    # A number the resource already owns cannot be reserved: a partial success.
    owned = dict(first, id=CONFIGURED[1:], phoneNumber=CONFIGURED)
    partial, _ = api.call("PATCH", item, 207, {"phoneNumbers": {owned["id"]: owned}}, reservationId=rid)
    assert partial["phoneNumbers"][owned["id"]]["status"] == "error"
    api.call("PATCH", item, 200, {"phoneNumbers": {owned["id"]: None}}, reservationId=rid)
    got, _ = api.call("GET", item, 200, reservationId=rid)
    assert set(got["phoneNumbers"]) == {first["id"], second["id"]}

    other = str(uuid.uuid4())
    api.call("PATCH", item, 201, {"phoneNumbers": {third["id"]: third}}, reservationId=other)
    listed, _ = api.call("GET", "/availablePhoneNumbers/reservations", 200)
    assert {r["id"] for r in listed["reservations"]} == {rid, other}
    api.call("GET", "/availablePhoneNumbers/reservations", 200, query="&maxPageSize=1")
    api.call("DELETE", item, 204, reservationId=other)
    api.call("GET", item, 404, reservationId=other)

    answer, headers = api.call("POST", f"{item}/:purchase", 202, {"agreeToNotResell": True}, reservationId=rid)
    assert answer is None
    api.operation(headers, "reservationPurchase")
    done, _ = api.call("GET", item, 200, reservationId=rid)
    assert done["status"] == "completed"
    api.call("DELETE", item, 409, reservationId=rid)
    api.call("GET", "/phoneNumbers/{phoneNumber}", 200, phoneNumber=first["phoneNumber"])

    # The spec's example request as written (a number outside the emulator's inventory).
    example = read(PN_SPEC.parent / "examples" / "CreateOrUpdateReservation.json")["parameters"]["reservation"]
    api.call("PATCH", item, 207, example, reservationId=str(uuid.uuid4()))


def test_operator_information(api: Api):
    path = "/operatorInformation/:search"
    numbers = [CONFIGURED, "+14255550123", "+442071234567"]
    plain, _ = api.call("POST", path, 200, {"phoneNumbers": numbers})
    assert [v["phoneNumber"] for v in plain["values"]] == numbers
    detailed, _ = api.call("POST", path, 200, {"phoneNumbers": numbers, "options": {"includeAdditionalOperatorDetails": True}})
    assert all("operatorDetails" in v for v in detailed["values"])
    api.call("POST", path, 400, {"phoneNumbers": []})
    api.call("POST", path, 400, {"phoneNumbers": ["not a number"]})


def test_sip_configuration(api: Api):
    config, _ = api.call("GET", "/sip", 200, sip=True)
    assert config.get("trunks", {}) == {} and config.get("routes", []) == []
    example = read(SIP_SPEC.parent / "examples" / "UpdateSipConfiguration.json")
    updated, _ = api.call("PATCH", "/sip", 200, example["parameters"]["body"], sip=True)
    assert updated == example["responses"]["200"]["body"]
    again, _ = api.call("GET", "/sip", 200, sip=True)
    assert again == updated
    api.call("PATCH", "/sip", 200, {"trunks": {"sbc.contoso.com": {"sipSignalingPort": 5062}},
                                    "routes": [{"name": "all", "numberPattern": "^\\+[1-9][0-9]{3,23}$",
                                                "trunks": ["sbc.contoso.com", "vendor.xyz.biz"]}]}, sip=True)
    api.call("PATCH", "/sip", 422, {"trunks": {}}, sip=True)
    api.call("PATCH", "/sip", 422, {"routes": [{"name": "x", "numberPattern": "^1$", "trunks": ["missing.contoso.com"]}]}, sip=True)
    api.call("PATCH", "/sip", 400, {"routes": [{"name": "x", "numberPattern": "^1$"}, {"name": "x", "numberPattern": "^2$"}]}, sip=True)
