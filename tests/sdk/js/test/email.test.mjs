// The ACS Email API of acs-emulator, driven through the unmodified official JS SDK
// (@azure/communication-email 1.1.0, default poller settings). Run through `node run.mjs`, which
// starts the emulator and sets NODE_EXTRA_CA_CERTS to its CA bundle. What the emulator "sent" is
// read back from the inbox, GET /_emulator/emails.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { EmailClient, KnownEmailSendStatus } from "@azure/communication-email";
import { AzureKeyCredential } from "@azure/core-auth";
import { isRestError } from "@azure/core-rest-pipeline";
import { ClientSecretCredential } from "@azure/identity";
import { emulatorFromEnv, resetEmulator, startEmulator } from "./emulator.mjs";

const emulator = emulatorFromEnv();

const SENDER = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net";
const PDF = Buffer.from("%PDF-1.4 a tiny invoice");
const PNG = Buffer.from("\x89PNG a tiny logo", "latin1");

const TRANSPORTS = [
  { name: "HTTPS with a connection string", client: () => new EmailClient(emulator.connectionString) },
  {
    name: "plain HTTP with AzureKeyCredential and allowInsecureConnection",
    client: () =>
      new EmailClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
        allowInsecureConnection: true,
      }),
  },
];

function message(to, extra = {}) {
  return {
    senderAddress: SENDER,
    recipients: { to: to.map((address) => ({ address })) },
    content: { subject: "Welcome", plainText: "Hello from the emulator." },
    ...extra,
  };
}

function withAttachments() {
  return message(["alice@example.com"], {
    content: {
      subject: "Your invoice",
      plainText: "Invoice attached.",
      html: '<html><body><img src="cid:logo"></body></html>',
    },
    attachments: [
      { name: "invoice.pdf", contentType: "application/pdf", contentInBase64: PDF.toString("base64") },
      { name: "logo.png", contentType: "image/png", contentInBase64: PNG.toString("base64"), contentId: "logo" },
    ],
  });
}

/** The inbox of the emulator at `base` (GET /_emulator/emails), filtered by `query`. */
async function sentEmails(query = {}, base = emulator.httpEndpoint) {
  const url = new URL("/_emulator/emails", base);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, String(value));
  const response = await fetch(url);
  assert.equal(response.status, 200);
  return (await response.json()).value;
}

async function timedSend(client, msg, options) {
  const started = performance.now();
  const poller = await client.beginSend(msg, options);
  const result = await poller.pollUntilDone();
  return { result, seconds: (performance.now() - started) / 1000 };
}

async function assertRestError(promise, statusCode, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(isRestError(err), `expected a RestError, got ${err}`);
    assert.equal(err.statusCode, statusCode, err.message);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

for (const transport of TRANSPORTS) {
  describe(`EmailClient over ${transport.name}`, () => {
    let client;
    beforeEach(async () => {
      await resetEmulator(emulator.httpEndpoint);
      client = transport.client();
    });

    it("beginSend + pollUntilDone completes in about a second and the email is in the inbox", async () => {
      const { result, seconds } = await timedSend(client, message(["alice@example.com"]));

      assert.equal(result.status, KnownEmailSendStatus.Succeeded);
      assert.match(result.id, /^[0-9a-f-]{36}$/);
      assert.ok(seconds >= 0.9 && seconds < 2.5, `${seconds} s`);
      const [entry] = await sentEmails();
      assert.equal(entry.id, result.id);
      assert.equal(entry.senderAddress, SENDER);
      assert.deepEqual(entry.recipients.to, [{ address: "alice@example.com", displayName: null }]);
      assert.equal(entry.via, "2025-09-01"); // what @azure/communication-email 1.1.0 sends
    });

    it("sends regular and inline attachments", async () => {
      const { result } = await timedSend(client, withAttachments());

      const [entry] = await sentEmails();
      assert.deepEqual(
        entry.attachments.map((a) => [a.name, a.contentType, a.contentId, a.size]),
        [
          ["invoice.pdf", "application/pdf", null, PDF.length],
          ["logo.png", "image/png", "logo", PNG.length],
        ],
      );
      const raw = await fetch(new URL(`/_emulator/emails/${result.id}/raw`, emulator.httpEndpoint));
      assert.equal(raw.headers.get("content-type"), "message/rfc822");
      const eml = await raw.text();
      assert.match(eml, /^Subject: Your invoice\r$/m);
      assert.match(eml, /^Content-ID: <logo>\r$/m);
      const pdf = await fetch(new URL(`/_emulator/emails/${result.id}/attachments/0`, emulator.httpEndpoint));
      assert.deepEqual(Buffer.from(await pdf.arrayBuffer()), PDF);
    });

    it("keeps the caller's operation id and a repeat sends nothing", async () => {
      const operationId = crypto.randomUUID();
      const first = await timedSend(client, message(["alice@example.com"]), { operationId });
      const again = await timedSend(client, message(["alice@example.com"]), { operationId });

      assert.equal(first.result.id, operationId);
      assert.equal(again.result.id, operationId);
      assert.equal((await sentEmails()).length, 1);
    });

    it("refuses an unlinked sender domain and invalid messages with the service's codes", async () => {
      await assertRestError(
        client.beginSend({ ...message(["alice@example.com"]), senderAddress: "noreply@contoso.com" }),
        404,
        "DomainNotLinked",
      );
      const fiftyOne = message(Array.from({ length: 51 }, (_, n) => `user${n}@example.com`));
      await assertRestError(client.beginSend(fiftyOne), 400, "TooManyRecipients");
      await assertRestError(client.beginSend(message(["not an address"])), 400, "InvalidEmailAddress");
      assert.deepEqual(await sentEmails(), []);
    });
  });
}

describe("scripted email failures", () => {
  let scripted;
  let dir;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "acs-email-rules-"));
    const fixture = join(dir, "email-failures.yaml");
    writeFileSync(
      fixture,
      [
        "rules:",
        "  - name: drop-to-gmail",
        '    match: {operation: Email.Send, to: "*@gmail.test"}',
        "    email: {result: {status: Failed}}",
        "  - name: bounce",
        '    match: {operation: Email.Send, to: "*@bounce.test"}',
        "    email: {deliveryReport: {status: Bounced}}",
        "",
      ].join("\n"),
    );
    scripted = await startEmulator({ extraArgs: ["--fixtures", fixture] });
  });
  after(async () => {
    await scripted?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a Failed operation rejects pollUntilDone with the service's code and message", async () => {
    const client = new EmailClient(scripted.httpEndpoint, new AzureKeyCredential(scripted.accessKey), {
      allowInsecureConnection: true,
    });
    const poller = await client.beginSend(message(["someone@gmail.test"]));
    await assert.rejects(poller.pollUntilDone(), (err) => {
      assert.match(err.message, /EmailDropped\. Email was dropped after several attempts to deliver\./);
      return true;
    });
    // A bounce is per recipient: the send itself succeeds, the inbox shows the outcome.
    const { result } = await timedSend(client, message(["ok@example.com", "nobody@bounce.test"]));
    assert.equal(result.status, "Succeeded");
    const [entry] = await sentEmails({ to: "nobody@bounce.test" }, scripted.httpEndpoint);
    assert.deepEqual(
      entry.deliveries.map((d) => [d.recipient, d.status]),
      [
        ["ok@example.com", "Delivered"],
        ["nobody@bounce.test", "Bounced"],
      ],
    );
  });
});

describe("EmailClient with an Entra ID credential", () => {
  beforeEach(() => resetEmulator(emulator.httpEndpoint));

  it("sends with a ClientSecretCredential and the emulator as authority", async () => {
    const credential = new ClientSecretCredential(
      "acacacac-0000-4000-8000-00000000000a",
      "acacacac-0000-4000-8000-00000000000c",
      "acs-emulator-client-secret",
      { authorityHost: emulator.httpsEndpoint.replace(/\/$/, ""), disableInstanceDiscovery: true },
    );
    const { result, seconds } = await timedSend(new EmailClient(emulator.httpsEndpoint, credential), withAttachments());

    assert.equal(result.status, "Succeeded");
    assert.ok(seconds < 2.5, `${seconds} s`);
    assert.equal((await sentEmails()).length, 1);
  });
});
