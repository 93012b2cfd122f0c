// The ACS Phone Numbers API and SIP routing of acs-emulator, driven through the unmodified
// official JS SDK (@azure/communication-phone-numbers 1.5.0, default poller settings), with the
// SMS SDK for the numbers bought. Run through `node run.mjs`, which starts the emulator and sets
// NODE_EXTRA_CA_CERTS to its certificate. The emulator owns +18005550100 (its default
// --phone-number).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { beforeEach, describe, it } from "node:test";
import { PhoneNumbersClient, SipRoutingClient } from "@azure/communication-phone-numbers";
import { SmsClient } from "@azure/communication-sms";
import { AzureKeyCredential } from "@azure/core-auth";
import { emulatorFromEnv, resetEmulator } from "./emulator.mjs";

const emulator = emulatorFromEnv();
const CONFIGURED = "+18005550100";
const TO = "+14255550123";

const TRANSPORTS = [
  {
    name: "HTTPS with a connection string",
    numbers: () => new PhoneNumbersClient(emulator.connectionString),
    sip: () => new SipRoutingClient(emulator.connectionString),
  },
  {
    name: "plain HTTP with AzureKeyCredential and allowInsecureConnection",
    numbers: () =>
      new PhoneNumbersClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
        allowInsecureConnection: true,
      }),
    sip: () =>
      new SipRoutingClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
        allowInsecureConnection: true,
      }),
  },
];

const sms = new SmsClient(emulator.connectionString);

/** Whether an SMS from `from` is accepted (a sender the resource may not use is 401). */
async function sends(from) {
  try {
    const [result] = await sms.send({ from, to: [TO], message: "hello" });
    assert.equal(result.successful, true);
    return true;
  } catch (e) {
    assert.equal(e.statusCode, 401);
    return false;
  }
}

async function collect(iterator) {
  const items = [];
  for await (const item of iterator) items.push(item);
  return items;
}

function tollFreeSearch(quantity = 1) {
  return {
    countryCode: "US",
    phoneNumberType: "tollFree",
    assignmentType: "application",
    capabilities: { calling: "outbound", sms: "inbound+outbound" },
    areaCode: "833",
    quantity,
  };
}

for (const transport of TRANSPORTS) {
  describe(`Phone Numbers over ${transport.name}`, () => {
    beforeEach(() => resetEmulator(emulator.httpEndpoint));

    it("lists the catalogue", async () => {
      const client = transport.numbers();
      const countries = await collect(client.listAvailableCountries());
      assert.deepEqual(
        countries.map((c) => c.countryCode),
        ["US", "CA"],
      );
      const localities = await collect(client.listAvailableLocalities("US", { administrativeDivision: "WA" }));
      assert.deepEqual(
        localities.map((l) => l.localizedName),
        ["Redmond", "Seattle"],
      );
      const geographic = await collect(client.listAvailableGeographicAreaCodes("US", { locality: "Redmond" }));
      assert.deepEqual(
        geographic.map((a) => a.areaCode),
        ["425"],
      );
      const tollFree = await collect(client.listAvailableTollFreeAreaCodes("US"));
      assert.ok(tollFree.some((a) => a.areaCode === "833"));
      const offerings = await collect(client.listAvailableOfferings("US", { phoneNumberType: "tollFree" }));
      assert.equal(offerings[0].availableCapabilities.sms, "inbound+outbound");
    });

    it("searches, purchases, sends SMS from the number, updates and releases it", async () => {
      const client = transport.numbers();
      const started = Date.now();
      const searchPoller = await client.beginSearchAvailablePhoneNumbers(tollFreeSearch(2));
      const search = await searchPoller.pollUntilDone();
      assert.equal(search.phoneNumbers.length, 2);
      assert.match(search.phoneNumbers[0], /^\+1833555/);
      const purchasePoller = await client.beginPurchasePhoneNumbers(search.searchId);
      await purchasePoller.pollUntilDone();
      assert.ok(Date.now() - started < 5000, "the pollers finish without waiting");
      const [number, other] = search.phoneNumbers;

      const owned = await client.getPurchasedPhoneNumber(number);
      assert.equal(owned.phoneNumber, number);
      assert.equal(owned.capabilities.sms, "inbound+outbound");
      const listed = (await collect(client.listPurchasedPhoneNumbers())).map((n) => n.phoneNumber);
      assert.ok(listed.includes(CONFIGURED) && listed.includes(number) && listed.includes(other));
      assert.equal(await sends(number), true);

      const updatePoller = await client.beginUpdatePhoneNumberCapabilities(number, { sms: "inbound" });
      const updated = await updatePoller.pollUntilDone();
      assert.equal(updated.capabilities.sms, "inbound");
      assert.equal(await sends(number), false);

      assert.equal(await sends(other), true);
      const releasePoller = await client.beginReleasePhoneNumber(other);
      await releasePoller.pollUntilDone();
      assert.equal(await sends(other), false);
      await assert.rejects(client.getPurchasedPhoneNumber(other), (e) => e.statusCode === 404);
    });

    it("fails a search without stock", async () => {
      const client = transport.numbers();
      // The legacy poller polls once inside begin…, so the failure may surface there already.
      const search = async () => {
        const poller = await client.beginSearchAvailablePhoneNumbers({ ...tollFreeSearch(1), areaCode: "999" });
        return poller.pollUntilDone();
      };
      await assert.rejects(search(), /OutOfStock/);
    });

    it("browses, reserves and purchases a reservation", async () => {
      const client = transport.numbers();
      const browsed = await client.browseAvailablePhoneNumbers({ countryCode: "US", phoneNumberType: "tollFree" });
      const [first] = browsed.phoneNumbers;
      assert.equal(first.status, "available");
      const reservationId = randomUUID();
      const reservation = await client.createOrUpdateReservation({ reservationId }, { add: [first] });
      assert.equal(reservation.status, "active");
      assert.equal(reservation.phoneNumbers[first.id].status, "reserved");
      const listed = await collect(client.listReservations());
      assert.deepEqual(
        listed.map((r) => r.id),
        [reservationId],
      );
      const poller = await client.beginReservationPurchase(reservationId);
      await poller.pollUntilDone();
      assert.equal((await client.getReservation(reservationId)).status, "completed");
      assert.equal(await sends(first.phoneNumber), true);
    });

    it("looks up operator information", async () => {
      const client = transport.numbers();
      const result = await client.searchOperatorInformation([CONFIGURED]);
      assert.equal(result.values[0].phoneNumber, CONFIGURED);
      assert.equal(result.values[0].nationalFormat, "+1 (800) 555-0100");
    });

    it("sets and gets SIP trunks and routes", async () => {
      const client = transport.sip();
      await client.setTrunks([
        { fqdn: "sbc1.contoso.com", sipSignalingPort: 5061 },
        { fqdn: "sbc2.contoso.com", sipSignalingPort: 5062 },
      ]);
      const trunks = await collect(client.listTrunks());
      assert.deepEqual(trunks.map((t) => [t.fqdn, t.sipSignalingPort]).sort(), [
        ["sbc1.contoso.com", 5061],
        ["sbc2.contoso.com", 5062],
      ]);
      assert.equal((await client.getTrunk("sbc2.contoso.com")).sipSignalingPort, 5062);
      await client.setRoutes([
        { name: "US", numberPattern: "^\\+1[0-9]{10}$", trunks: ["sbc2.contoso.com", "sbc1.contoso.com"] },
        { name: "All", numberPattern: "^+[1-9][0-9]{3,23}$", trunks: ["sbc1.contoso.com"] },
      ]);
      const routes = await collect(client.listRoutes());
      assert.deepEqual(
        routes.map((r) => r.name),
        ["US", "All"],
      );
      assert.deepEqual(routes[0].trunks, ["sbc2.contoso.com", "sbc1.contoso.com"]);
      await assert.rejects(client.deleteTrunk("sbc2.contoso.com"), (e) => e.statusCode === 422);
      await client.setRoutes([]);
      await client.deleteTrunk("sbc2.contoso.com");
      assert.deepEqual(
        (await collect(client.listTrunks())).map((t) => t.fqdn),
        ["sbc1.contoso.com"],
      );
      await assert.rejects(
        client.setRoutes([{ name: "bad", numberPattern: "([0-9]", trunks: [] }]),
        (e) => e.statusCode === 422,
      );
    });
  });
}
