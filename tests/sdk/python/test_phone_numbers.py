"""The ACS Phone Numbers API and SIP routing of acs-emulator, driven through the unmodified
official Python SDK (azure-communication-phonenumbers 1.4.0, default poller settings).

Fixtures (conftest.py): ``emulator``, ``phone_numbers_client`` and ``sip_routing_client`` (each
parametrized over HTTPS + connection string and plain HTTP + AzureKeyCredential), ``sms_client``.
Every test starts from an emptied emulator, which owns +18005550100 (its default --phone-number).
"""

from __future__ import annotations

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

CONFIGURED = "+18005550100"
TO = "+14255550123"


def toll_free_search(client, quantity: int = 1):
    from azure.communication.phonenumbers import (
        PhoneNumberAssignmentType,
        PhoneNumberCapabilities,
        PhoneNumberCapabilityType,
        PhoneNumberType,
    )

    return client.begin_search_available_phone_numbers(
        "US",
        PhoneNumberType.TOLL_FREE,
        PhoneNumberAssignmentType.APPLICATION,
        PhoneNumberCapabilities(
            calling=PhoneNumberCapabilityType.OUTBOUND, sms=PhoneNumberCapabilityType.INBOUND_OUTBOUND
        ),
        area_code="833",
        quantity=quantity,
    )


def sends(sms_client, sender: str) -> bool:
    """Whether an SMS from ``sender`` is accepted (a sender the resource may not use is 401)."""
    try:
        result = sms_client.send(from_=sender, to=[TO], message="hello")
    except HttpResponseError as e:
        assert e.status_code == 401
        return False
    assert result[0].successful
    return True


def test_catalogue(phone_numbers_client):
    from azure.communication.phonenumbers import PhoneNumberType

    countries = [c.country_code for c in phone_numbers_client.list_available_countries()]
    assert countries == ["US", "CA"]
    localities = [l.localized_name for l in phone_numbers_client.list_available_localities("US", administrative_division="WA")]
    assert localities == ["Redmond", "Seattle"]
    codes = [a.area_code for a in phone_numbers_client.list_available_area_codes("US", PhoneNumberType.GEOGRAPHIC, locality="Redmond")]
    assert codes == ["425"]
    toll_free = [a.area_code for a in phone_numbers_client.list_available_area_codes("US", PhoneNumberType.TOLL_FREE)]
    assert "833" in toll_free
    offerings = list(phone_numbers_client.list_available_offerings("US", phone_number_type=PhoneNumberType.TOLL_FREE))
    assert offerings[0].available_capabilities.sms == "inbound+outbound"
    assert offerings[0].cost.currency_code == "USD"
    with pytest.raises(HttpResponseError) as e:
        list(phone_numbers_client.list_available_offerings("XX"))
    assert e.value.status_code == 400


def test_search_purchase_send_release_journey(phone_numbers_client, sms_client):
    from azure.communication.phonenumbers import PhoneNumberCapabilityType

    started = time.monotonic()
    search = toll_free_search(phone_numbers_client, quantity=2).result()
    assert len(search.phone_numbers) == 2
    assert search.phone_numbers[0].startswith("+1833555")
    assert search.cost.amount == 2.0
    phone_numbers_client.begin_purchase_phone_numbers(search.search_id).result()
    assert time.monotonic() - started < 5, "the pollers finish at their first poll"
    number, other = search.phone_numbers

    # Bought: owned, listed, and a valid SMS sender at once.
    owned = phone_numbers_client.get_purchased_phone_number(number)
    assert owned.phone_number == number
    assert owned.capabilities.sms == "inbound+outbound"
    listed = [n.phone_number for n in phone_numbers_client.list_purchased_phone_numbers()]
    assert CONFIGURED in listed and number in listed and other in listed
    assert sends(sms_client, number)

    # Without outbound SMS the number can no longer send.
    updated = phone_numbers_client.begin_update_phone_number_capabilities(
        number, sms=PhoneNumberCapabilityType.INBOUND
    ).result()
    assert updated.capabilities.sms == "inbound"
    assert not sends(sms_client, number)

    # Released: gone, and refused as a sender.
    assert sends(sms_client, other)
    phone_numbers_client.begin_release_phone_number(other).result()
    assert not sends(sms_client, other)
    with pytest.raises(ResourceNotFoundError):
        phone_numbers_client.get_purchased_phone_number(other)


def test_a_search_without_stock_fails(phone_numbers_client):
    from azure.communication.phonenumbers import (
        PhoneNumberAssignmentType,
        PhoneNumberCapabilities,
        PhoneNumberCapabilityType,
        PhoneNumberType,
    )

    poller = phone_numbers_client.begin_search_available_phone_numbers(
        "US",
        PhoneNumberType.TOLL_FREE,
        PhoneNumberAssignmentType.APPLICATION,
        PhoneNumberCapabilities(calling=PhoneNumberCapabilityType.OUTBOUND, sms=PhoneNumberCapabilityType.NONE),
        area_code="999",
    )
    with pytest.raises(HttpResponseError) as e:
        poller.result()
    assert "OutOfStock" in str(e.value)


def test_reservations_browse_reserve_purchase(phone_numbers_client, sms_client):
    from azure.communication.phonenumbers import PhoneNumberType

    browsed = phone_numbers_client.browse_available_phone_numbers(
        country_code="US", phone_number_type=PhoneNumberType.TOLL_FREE
    )
    numbers = browsed.phone_numbers
    assert numbers and numbers[0].status == "available"
    reservation_id = str(uuid.uuid4())
    reservation = phone_numbers_client.create_or_update_reservation(
        reservation_id=reservation_id, numbers_to_add=numbers[:1]
    )
    assert reservation.status == "active"
    key = numbers[0].id
    assert reservation.phone_numbers[key].status == "reserved"
    assert [r.id for r in phone_numbers_client.list_reservations()] == [reservation_id]
    phone_numbers_client.begin_purchase_reservation(reservation_id).result()
    assert phone_numbers_client.get_reservation(reservation_id).status == "completed"
    assert sends(sms_client, numbers[0].phone_number)


def test_operator_information(phone_numbers_client):
    result = phone_numbers_client.search_operator_information([CONFIGURED])
    info = result.values[0]
    assert info.phone_number == CONFIGURED
    assert info.national_format == "+1 (800) 555-0100"
    assert info.iso_country_code == "US"


def test_sip_trunks_and_routes(sip_routing_client):
    from azure.communication.phonenumbers.siprouting import SipTrunk, SipTrunkRoute

    client = sip_routing_client
    client.set_trunks([SipTrunk(fqdn="sbc1.contoso.com", sip_signaling_port=5061), SipTrunk(fqdn="sbc2.contoso.com", sip_signaling_port=5062)])
    trunks = {t.fqdn: t.sip_signaling_port for t in client.list_trunks()}
    assert trunks == {"sbc1.contoso.com": 5061, "sbc2.contoso.com": 5062}
    assert client.get_trunk("sbc2.contoso.com").sip_signaling_port == 5062
    routes = [
        SipTrunkRoute(name="US", number_pattern=r"^\+1[0-9]{10}$", trunks=["sbc2.contoso.com", "sbc1.contoso.com"]),
        SipTrunkRoute(name="All", number_pattern="^+[1-9][0-9]{3,23}$", trunks=["sbc1.contoso.com"]),
    ]
    client.set_routes(routes)
    listed = list(client.list_routes())
    assert [r.name for r in listed] == ["US", "All"]
    assert listed[0].trunks == ["sbc2.contoso.com", "sbc1.contoso.com"]
    # A trunk a route uses cannot be deleted.
    with pytest.raises(HttpResponseError) as e:
        client.delete_trunk("sbc2.contoso.com")
    assert e.value.status_code == 422
    client.set_routes([])
    client.delete_trunk("sbc2.contoso.com")
    assert [t.fqdn for t in client.list_trunks()] == ["sbc1.contoso.com"]
    # set_trunks replaces the whole set.
    client.set_trunks([SipTrunk(fqdn="sbc3.contoso.com", sip_signaling_port=5063)])
    assert [t.fqdn for t in client.list_trunks()] == ["sbc3.contoso.com"]
    with pytest.raises(HttpResponseError) as e:
        client.set_routes([SipTrunkRoute(name="bad", number_pattern="([0-9]", trunks=[])])
    assert e.value.status_code == 422


def test_scenario_rule_fails_a_purchase(start_emulator):
    from azure.communication.phonenumbers import PhoneNumbersClient
    from azure.core.credentials import AzureKeyCredential

    emulator = start_emulator()
    emulator.load_fixture(
        '{"rules": [{"name": "no-purchase", "match": {"operation": "PhoneNumbers.PurchasePhoneNumbers"},'
        ' "phoneNumbers": {"code": "NotEnoughCredit", "message": "Not enough credit."}}]}',
        yaml=False,
    )
    client = PhoneNumbersClient(emulator.http_endpoint.rstrip("/"), AzureKeyCredential(emulator.access_key))
    search = toll_free_search(client).result()
    with pytest.raises(HttpResponseError) as e:
        client.begin_purchase_phone_numbers(search.search_id).result()
    assert "NotEnoughCredit" in str(e.value)


@pytest.mark.asyncio
async def test_async_client_search_purchase_release(emulator):
    from azure.communication.phonenumbers import (
        PhoneNumberAssignmentType,
        PhoneNumberCapabilities,
        PhoneNumberCapabilityType,
        PhoneNumberType,
    )
    from azure.communication.phonenumbers.aio import PhoneNumbersClient

    async with PhoneNumbersClient.from_connection_string(emulator.connection_string) as client:
        poller = await client.begin_search_available_phone_numbers(
            "US",
            PhoneNumberType.TOLL_FREE,
            PhoneNumberAssignmentType.APPLICATION,
            PhoneNumberCapabilities(calling=PhoneNumberCapabilityType.OUTBOUND, sms=PhoneNumberCapabilityType.OUTBOUND),
        )
        search = await poller.result()
        await (await client.begin_purchase_phone_numbers(search.search_id)).result()
        number = search.phone_numbers[0]
        assert (await client.get_purchased_phone_number(number)).capabilities.sms == "outbound"
        await (await client.begin_release_phone_number(number)).result()
        with pytest.raises(ResourceNotFoundError):
            await client.get_purchased_phone_number(number)
