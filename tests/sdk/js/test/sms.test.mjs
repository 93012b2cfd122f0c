// The ACS SMS API of acs-emulator, driven through the unmodified official JS SDK
// (@azure/communication-sms 1.1.0). Run through `node run.mjs`, which starts the emulator and
// sets NODE_EXTRA_CA_CERTS to its certificate. The emulator owns +18005550100 (its default
// --phone-number); what it "sent" is read back from the outbox, GET /_emulator/sms.

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { SmsClient } from "@azure/communication-sms";
import { AzureKeyCredential } from "@azure/core-auth";
import { isRestError } from "@azure/core-rest-pipeline";
import { emulatorFromEnv, resetEmulator } from "./emulator.mjs";
import { randomAccessKey } from "./tokens.mjs";

const emulator = emulatorFromEnv();

const FROM = "+18005550100";
const TO = "+14255550123";
const OTHER = "+14255550124";

// The two ways an application reaches the emulator with an access key.
const TRANSPORTS = [
  { name: "HTTPS with a connection string", client: () => new SmsClient(emulator.connectionString) },
  {
    name: "plain HTTP with AzureKeyCredential and allowInsecureConnection",
    client: () =>
      new SmsClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
        allowInsecureConnection: true,
      }),
  },
];

/** The outbox (GET /_emulator/sms on the plain-HTTP listener), filtered by `query`. */
async function sentSms(query = {}) {
  const url = new URL("/_emulator/sms", emulator.httpEndpoint);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, String(value));
  const response = await fetch(url);
  assert.equal(response.status, 200);
  return (await response.json()).value;
}

function assertAccepted(result, to) {
  assert.equal(result.to, to);
  assert.match(result.messageId, /^Outgoing_/);
  assert.equal(result.httpStatusCode, 202);
  assert.equal(result.successful, true);
  assert.equal(result.errorMessage, undefined);
  // JS keeps the field (Python drops it): the SDK always sends a repeatability id.
  assert.equal(result.repeatabilityResult, "accepted");
}

function assertFailed(result, to, message) {
  assert.deepEqual(result, { to, httpStatusCode: 400, errorMessage: message, successful: false });
}

function assertOutboxEntry(entry, result, { message, tag = null, report = false }) {
  assert.equal(entry.messageId, result.messageId);
  assert.equal(entry.from, FROM);
  assert.equal(entry.to, result.to);
  assert.equal(entry.message, message);
  assert.equal(entry.tag, tag);
  assert.equal(entry.enableDeliveryReport, report);
  assert.equal(entry.apiVersion, "2021-03-07"); // what @azure/communication-sms 1.1.0 sends
  assert.ok(entry.repeatabilityRequestId, "the SDK sends a repeatability id per recipient");
}

async function assertRestError(promise, statusCode) {
  await assert.rejects(promise, (err) => {
    assert.ok(isRestError(err), `expected a RestError, got ${err}`);
    assert.equal(err.statusCode, statusCode, err.message);
    return true;
  });
}

for (const transport of TRANSPORTS) {
  describe(`SmsClient over ${transport.name}`, () => {
    let client;
    beforeEach(async () => {
      await resetEmulator(emulator.httpEndpoint);
      client = transport.client();
    });

    it("sends to one recipient and the outbox shows it", async () => {
      const results = await client.send({ from: FROM, to: [TO], message: "test message" });

      assert.equal(results.length, 1);
      assertAccepted(results[0], TO);
      const outbox = await sentSms();
      assert.equal(outbox.length, 1);
      assertOutboxEntry(outbox[0], results[0], { message: "test message" });
    });

    it("sends to many recipients with options", async () => {
      const results = await client.send(
        { from: FROM, to: [TO, OTHER], message: "test message" },
        { enableDeliveryReport: true, tag: "SMS_LIVE_TEST" },
      );

      assert.deepEqual(
        results.map((r) => r.to),
        [TO, OTHER],
      );
      results.forEach((r) => assertAccepted(r, r.to));
      assert.notEqual(results[0].messageId, results[1].messageId);
      const outbox = await sentSms({ tag: "SMS_LIVE_TEST" });
      assert.equal(outbox.length, 2);
      outbox.forEach((entry, i) =>
        assertOutboxEntry(entry, results[i], { message: "test message", tag: "SMS_LIVE_TEST", report: true }),
      );
      assert.deepEqual(
        (await sentSms({ to: OTHER })).map((e) => e.messageId),
        [results[1].messageId],
      );
    });

    it("fails bad recipients alone, with the real service's messages", async () => {
      const results = await client.send({
        from: FROM,
        to: [TO, "+1425555012345", "+123"],
        message: "test message",
      });

      assert.equal(results.length, 3);
      assertAccepted(results[0], TO);
      assertFailed(results[1], "+1425555012345", "Unknown country code.");
      assertFailed(results[2], "+123", "Invalid To phone number format.");
      assert.deepEqual(
        (await sentSms()).map((e) => e.to),
        [TO],
      );
    });

    it("fails the whole send when a recipient is not a phone number at all", async () => {
      await assertRestError(
        client.send({ from: FROM, to: [TO, "Ad155500000000000"], message: "test message" }),
        400,
      );
      assert.deepEqual(await sentSms(), []);
    });

    for (const sender of ["+14255550123", "+1425555012345"]) {
      it(`rejects a sender the resource does not own (${sender}) with 401`, async () => {
        await assertRestError(
          client.send({ from: sender, to: [TO], message: "test message" }, { enableDeliveryReport: true }),
          401,
        );
        assert.deepEqual(await sentSms(), []);
      });
    }

    it("gives identical sends different message ids", async () => {
      const request = { from: FROM, to: [TO], message: "test message" };
      const first = await client.send(request);
      const second = await client.send(request);

      assert.notEqual(first[0].messageId, second[0].messageId);
      assert.equal((await sentSms()).length, 2);
    });

    it("lets a test wait for a message without sleeping", async () => {
      const started = Date.now();
      const waiting = sentSms({ to: OTHER, wait: "10s", count: 1 });
      setTimeout(() => client.send({ from: FROM, to: [OTHER], message: "later" }), 300);

      const outbox = await waiting;

      assert.deepEqual(
        outbox.map((e) => e.message),
        ["later"],
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });
  });
}

describe("SmsClient authentication", () => {
  beforeEach(() => resetEmulator(emulator.httpEndpoint));

  it("rejects a connection string with the wrong key with 401", async () => {
    const wrong = emulator.connectionString.replace(emulator.accessKey, randomAccessKey());
    await assertRestError(new SmsClient(wrong).send({ from: FROM, to: [TO], message: "hi" }), 401);
    assert.deepEqual(await sentSms(), []);
  });
});
