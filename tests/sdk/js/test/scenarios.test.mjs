// Scripted scenarios seen through the unmodified official JS SDK: fixtures/throttling.yaml with
// @azure/communication-sms 1.1.0 and its default retry policy.
//
// The fixture's rules stay loaded for the emulator's whole life, so this file starts an emulator
// of its own (startEmulator with --fixtures) instead of using the shared one. Its certificate is
// not the one NODE_EXTRA_CA_CERTS names, so the client uses its plain-HTTP listener.

import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SmsClient } from "@azure/communication-sms";
import { AzureKeyCredential } from "@azure/core-auth";
import { startEmulator } from "./emulator.mjs";

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "fixtures");
const FROM = "+18005550100";
const TO = "+14255550123";

async function control(emulator, path) {
  const response = await fetch(new URL(path, emulator.httpEndpoint));
  assert.equal(response.status, 200, `GET ${path}`);
  return response.json();
}

describe("fixtures/throttling.yaml", () => {
  let emulator;
  before(async () => {
    emulator = await startEmulator({ extraArgs: ["--fixtures", join(FIXTURES, "throttling.yaml")] });
  });
  after(async () => {
    const alive = emulator?.isRunning();
    await emulator?.stop();
    assert.ok(alive, "the dedicated emulator died during the tests");
  });

  it("two sends both succeed: the SDK retries the 429 after retry-after-ms", async () => {
    const client = new SmsClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
      allowInsecureConnection: true,
    });
    assert.equal((await control(emulator, "/_emulator/verify")).ok, false); // the 429 is still owed

    const [first] = await client.send({ from: FROM, to: [TO], message: "first" });
    const started = performance.now();
    const [second] = await client.send({ from: FROM, to: [TO], message: "second" });
    const tookMs = performance.now() - started;

    for (const result of [first, second]) {
      assert.equal(result.successful, true);
      assert.equal(result.httpStatusCode, 202);
    }
    const journal = await control(emulator, "/_emulator/journal?operation=Sms.Send");
    assert.deepEqual(
      journal.value.map((entry) => [entry.status, entry.rule]),
      [
        [202, "first-send-passes"],
        [429, "second-send-throttled"],
        [202, null],
      ],
    );
    assert.deepEqual(await control(emulator, "/_emulator/verify"), { ok: true, unmet: [] });
    // core-rest-pipeline reads retry-after-ms (50 ms) before Retry-After (1 s); Python's
    // azure-core reads them the other way round.
    assert.ok(tookMs < 900, `the retry waited ${tookMs.toFixed(0)} ms`);
  });
});
