// The SMTP relay (--smtp-port) driven by nodemailer, as a Node application that sends through ACS
// Email's SMTP endpoint would: STARTTLS required and verified against the emulator's
// certificate, AUTH with <resource>.<client id>.<tenant id> and the Entra client's secret, a
// message with an attachment; then the inbox (GET /_emulator/emails) and the .eml. This file
// starts its own emulator with --smtp-port 0 and finds the port in /_emulator/health.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import nodemailer from "nodemailer";
import { startEmulator } from "./emulator.mjs";

const SENDER = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net";
const CLIENT_ID = "acacacac-0000-4000-8000-00000000000c";
const TENANT = "acacacac-0000-4000-8000-00000000000a";
const SECRET = "acs-emulator-client-secret";
const PDF = Buffer.from("%PDF-1.4 a tiny invoice");

describe("SMTP relay with nodemailer", () => {
  let relay;
  let port;
  before(async () => {
    relay = await startEmulator({ extraArgs: ["--smtp-port", "0"] });
    const health = await (await fetch(`${relay.httpEndpoint}_emulator/health`)).json();
    port = health.smtpPort;
    assert.ok(port > 0, JSON.stringify(health));
  });
  after(async () => {
    await relay?.stop();
  });

  const transport = (pass, user = `acs-emulator.${CLIENT_ID}.${TENANT}`) =>
    nodemailer.createTransport({
      host: "localhost",
      port,
      secure: false,
      requireTLS: true,
      auth: { user, pass },
      tls: { ca: readFileSync(relay.certPath) },
    });

  it("sends with STARTTLS and AUTH, and the inbox has the message and its .eml", async () => {
    const info = await transport(SECRET).sendMail({
      from: `Contoso <${SENDER}>`,
      to: "Alice <alice@example.com>",
      cc: "bob@example.com",
      subject: "Your invoice",
      text: "Thanks for your order.",
      html: "<p>Thanks for your order.</p>",
      headers: { "X-Order": "42" },
      attachments: [{ filename: "invoice.pdf", content: PDF, contentType: "application/pdf" }],
    });
    assert.deepEqual(info.rejected, []);
    assert.match(info.response, /^250 2\.6\.0 .*\[InternalId=[0-9a-f-]+\]/);

    const inbox = await (await fetch(`${relay.httpEndpoint}_emulator/emails?subject=Your+invoice&wait=5s`)).json();
    assert.equal(inbox.value.length, 1);
    const sent = inbox.value[0];
    assert.equal(sent.via, "smtp");
    assert.equal(sent.senderAddress, SENDER);
    assert.deepEqual(sent.recipients.to, [{ address: "alice@example.com", displayName: "Alice" }]);
    assert.deepEqual(sent.recipients.cc, [{ address: "bob@example.com", displayName: null }]);
    assert.equal(sent.plainText.trim(), "Thanks for your order.");
    assert.equal(sent.html.trim(), "<p>Thanks for your order.</p>");
    assert.deepEqual(sent.headers, { "X-Order": "42" });
    assert.deepEqual(
      sent.attachments.map((a) => [a.name, a.contentType, a.size]),
      [["invoice.pdf", "application/pdf", PDF.length]],
    );
    // The .eml is what nodemailer sent, its own (folded) Message-ID included.
    const eml = await (await fetch(`${relay.httpEndpoint}_emulator/emails/${sent.id}/raw`)).text();
    assert.match(eml, /^Message-ID:\s+(\S+)\r$/m);
    assert.ok(eml.includes(info.messageId), eml);
    assert.equal(sent.internetMessageId, info.messageId);
    assert.ok(eml.includes(PDF.toString("base64")), eml);
  });

  it("refuses a wrong secret with 535", async () => {
    await assert.rejects(
      transport("not-the-secret").sendMail({ from: SENDER, to: "a@example.com", subject: "x", text: "x" }),
      (err) => err.responseCode === 535,
    );
  });

  it("refuses a sender domain that is not linked with 550 5.1.7", async () => {
    await assert.rejects(
      transport(SECRET).sendMail({ from: "me@not-linked.example", to: "a@example.com", subject: "x", text: "x" }),
      (err) => err.responseCode === 550 && /5\.1\.7/.test(err.response),
    );
  });
});
