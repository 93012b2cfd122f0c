// The ACS Chat API of acs-emulator, driven through the unmodified official JS SDK
// (@azure/communication-chat 1.6.0, api-version 2025-03-15). Users and tokens come from the
// emulator's Identity API; chat clients use AzureCommunicationTokenCredential over HTTPS, trusted
// through NODE_EXTRA_CA_CERTS (set by `node run.mjs`). Every test resets the emulator first.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { beforeEach, describe, it } from "node:test";
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { isRestError } from "@azure/core-rest-pipeline";
import { emulatorFromEnv, resetEmulator } from "./emulator.mjs";

const emulator = emulatorFromEnv();
const FORBIDDEN = "User is not allowed to perform specified action.";

/** A new emulator identity with a token of `scopes`, and a ChatClient for it. */
async function newUser(scopes = ["chat"]) {
  const identity = new CommunicationIdentityClient(emulator.connectionString);
  const { user, token } = await identity.createUserAndToken(scopes);
  const credential = new AzureCommunicationTokenCredential(token);
  const chat = new ChatClient(emulator.httpsEndpoint, credential);
  return { user, id: user.communicationUserId, chat, thread: (threadId) => chat.getChatThreadClient(threadId) };
}

async function assertRestError(promise, status, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(isRestError(err), `expected a RestError, got ${err}`);
    assert.equal(err.statusCode, status, err.message);
    if (code) assert.equal(err.code, code, err.message);
    return true;
  });
}

const assertForbidden = async (promise) => {
  await assert.rejects(promise, (err) => {
    assert.ok(isRestError(err), `expected a RestError, got ${err}`);
    assert.equal(err.statusCode, 403);
    assert.equal(err.code, "Forbidden");
    assert.equal(err.message, FORBIDDEN);
    return true;
  });
};

async function all(iterator) {
  const items = [];
  for await (const item of iterator) items.push(item);
  return items;
}

async function pages(iterator) {
  const result = [];
  for await (const page of iterator.byPage()) result.push(page);
  return result;
}

beforeEach(async () => {
  await resetEmulator(emulator.httpEndpoint);
});

describe("ChatClient threads", () => {
  it("creates, reads, updates, lists and deletes a thread with metadata and a retention policy", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const before = Date.now() - 5000;

    const { chatThread, invalidParticipants } = await alice.chat.createChatThread(
      { topic: "Lunch" },
      {
        participants: [{ id: bob.user, displayName: "Bob", metadata: { role: "guest" } }],
        metadata: { team: "blue" },
        retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 30 },
      },
    );
    assert.ok(!invalidParticipants || invalidParticipants.length === 0, JSON.stringify(invalidParticipants));
    assert.match(chatThread.id, /^19:.+@thread\.v2$/);
    assert.equal(chatThread.topic, "Lunch");
    assert.deepEqual(chatThread.createdBy, { kind: "communicationUser", communicationUserId: alice.id });
    assert.ok(chatThread.createdOn.getTime() >= before && chatThread.createdOn.getTime() <= Date.now() + 5000);
    assert.deepEqual(chatThread.metadata, { team: "blue" });
    assert.deepEqual(chatThread.retentionPolicy, { kind: "threadCreationDate", deleteThreadAfterDays: 30 });

    const tc = alice.thread(chatThread.id);
    await tc.updateTopic("Dinner");
    await tc.updateProperties({ metadata: { team: "red" }, retentionPolicy: { kind: "none" } });
    const props = await bob.thread(chatThread.id).getProperties();
    assert.equal(props.topic, "Dinner");
    assert.deepEqual(props.metadata, { team: "red" });
    assert.deepEqual(props.retentionPolicy, { kind: "none" });
    const participants = await all(tc.listParticipants());
    assert.deepEqual(
      participants.map((p) => [p.id.communicationUserId, p.displayName, p.metadata]),
      [
        [alice.id, undefined, undefined],
        [bob.id, "Bob", { role: "guest" }],
      ],
    );

    const listed = await all(bob.chat.listChatThreads());
    assert.deepEqual(
      listed.map((t) => [t.id, t.topic]),
      [[chatThread.id, "Dinner"]],
    );
    assert.ok(listed[0].lastMessageReceivedOn instanceof Date);

    await alice.chat.deleteChatThread(chatThread.id);
    for (const user of [alice, bob]) {
      await assertRestError(user.thread(chatThread.id).getProperties(), 404, "NotFound");
      assert.deepEqual(await all(user.chat.listChatThreads()), []);
    }
    await alice.chat.deleteChatThread(chatThread.id); // deleting again succeeds
  });

  it("returns the same thread for the same idempotency token", async () => {
    const alice = await newUser();
    const idempotencyToken = randomUUID();
    const first = await alice.chat.createChatThread({ topic: "once" }, { idempotencyToken });
    const again = await alice.chat.createChatThread({ topic: "once" }, { idempotencyToken });
    const other = await alice.chat.createChatThread({ topic: "once" });
    assert.equal(first.chatThread.id, again.chatThread.id);
    assert.notEqual(first.chatThread.id, other.chatThread.id);
  });

  it("reports participants that cannot join in invalidParticipants", async () => {
    const alice = await newUser();
    const ghost = `${alice.id.split("_")[0]}_${randomUUID()}`;
    const { chatThread, invalidParticipants } = await alice.chat.createChatThread(
      { topic: "T" },
      { participants: [{ id: { communicationUserId: ghost } }] },
    );
    assert.deepEqual(invalidParticipants, [{ code: "404", message: "Not found", target: ghost }]);
    const ids = (await all(alice.thread(chatThread.id).listParticipants())).map((p) => p.id.communicationUserId);
    assert.deepEqual(ids, [alice.id]);
  });

  it("lists threads newest activity first, by page and with startTime", async () => {
    const alice = await newUser();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await alice.chat.createChatThread({ topic: `t${i}` })).chatThread.id);
    await alice.thread(ids[0]).sendMessage({ content: "bump" });

    const byPage = await pages(alice.chat.listChatThreads({ maxPageSize: 2 }));
    assert.deepEqual(
      byPage.map((p) => p.length),
      [2, 2, 1],
    );
    const flat = byPage.flat();
    assert.equal(flat[0].id, ids[0]);
    assert.deepEqual(flat.map((t) => t.id).sort(), [...ids].sort());
    assert.deepEqual(await all(alice.chat.listChatThreads({ startTime: new Date(Date.now() + 3600_000) })), []);
  });
});

describe("ChatThreadClient messages", () => {
  it("sends, gets, edits, deletes and lists messages", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const { chatThread } = await alice.chat.createChatThread({ topic: "T" }, { participants: [{ id: bob.user }] });
    const tc = alice.thread(chatThread.id);
    const bc = bob.thread(chatThread.id);

    const sent = await tc.sendMessage({ content: "hello" }, { senderDisplayName: "Alice", metadata: { k: "v" } });
    const html = await tc.sendMessage({ content: "<b>hi</b>" }, { type: "html" });
    assert.ok(BigInt(html.id) > BigInt(sent.id));

    const message = await bc.getMessage(sent.id);
    assert.equal(message.id, sent.id);
    assert.equal(message.type, "text");
    assert.equal(message.sequenceId, "3");
    assert.equal(message.version, sent.id);
    assert.equal(message.content.message, "hello");
    assert.equal(message.senderDisplayName, "Alice");
    assert.deepEqual(message.sender, { kind: "communicationUser", communicationUserId: alice.id });
    assert.deepEqual(message.metadata, { k: "v" });
    assert.ok(message.createdOn instanceof Date);
    assert.equal(message.editedOn, undefined);
    assert.equal((await bc.getMessage(html.id)).type, "html");

    await tc.updateMessage(sent.id, { content: "hello again", metadata: { k2: "v2" } });
    const edited = await tc.getMessage(sent.id);
    assert.equal(edited.content.message, "hello again");
    assert.deepEqual(edited.metadata, { k: "v", k2: "v2" });
    assert.ok(edited.editedOn instanceof Date);
    assert.notEqual(edited.version, edited.id);
    await assertForbidden(bc.updateMessage(sent.id, { content: "not mine" }));

    await tc.deleteMessage(html.id);
    assert.ok((await tc.getMessage(html.id)).deletedOn instanceof Date);

    const messages = await all(bc.listMessages({ maxPageSize: 2 }));
    assert.deepEqual(
      messages.map((m) => [m.sequenceId, m.type]),
      [
        ["4", "html"],
        ["3", "text"],
        ["2", "topicUpdated"],
        ["1", "participantAdded"],
      ],
    );
    assert.equal(messages[2].content.topic, "T");
    assert.equal(messages[2].sender, undefined);
    assert.deepEqual(messages[3].content.initiator, { kind: "communicationUser", communicationUserId: alice.id });
    assert.deepEqual(
      messages[3].content.participants.map((p) => p.id.communicationUserId),
      [alice.id, bob.id],
    );
  });

  it("pages messages and honours startTime", async () => {
    const alice = await newUser();
    const { chatThread } = await alice.chat.createChatThread({ topic: "T" });
    const tc = alice.thread(chatThread.id);
    for (let i = 0; i < 7; i++) await tc.sendMessage({ content: `m${i}` });
    const byPage = await pages(tc.listMessages({ maxPageSize: 3 }));
    assert.deepEqual(
      byPage.map((p) => p.length),
      [3, 3, 3],
    );
    assert.deepEqual(
      byPage.flat().map((m) => m.sequenceId),
      ["9", "8", "7", "6", "5", "4", "3", "2", "1"],
    );
    assert.deepEqual(await all(tc.listMessages({ startTime: new Date(Date.now() + 3600_000) })), []);
    assert.equal((await all(tc.listMessages({ startTime: new Date(Date.now() - 3600_000) }))).length, 9);
  });

  it("sends and lists read receipts and typing notifications", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const { chatThread } = await alice.chat.createChatThread({ topic: "T" }, { participants: [{ id: bob.user }] });
    const tc = alice.thread(chatThread.id);
    const bc = bob.thread(chatThread.id);
    const first = (await tc.sendMessage({ content: "1" })).id;
    const second = (await tc.sendMessage({ content: "2" })).id;

    await tc.sendReadReceipt({ chatMessageId: second });
    await bc.sendReadReceipt({ chatMessageId: first });
    await bc.sendReadReceipt({ chatMessageId: second });
    const receipts = await all(tc.listReadReceipts({ maxPageSize: 1 }));
    assert.deepEqual(
      receipts.map((r) => [r.sender.communicationUserId, r.chatMessageId]).sort(),
      [
        [alice.id, second],
        [bob.id, second],
      ].sort(),
    );
    assert.ok(receipts.every((r) => r.readOn instanceof Date));
    assert.equal((await all(tc.listReadReceipts({ skip: 1 }))).length, 1);

    assert.equal(await tc.sendTypingNotification({ senderDisplayName: "Alice" }), true);
    assert.equal(await bc.sendTypingNotification(), true);
  });
});

describe("ChatThreadClient participants", () => {
  it("adds, lists and removes participants; a removed participant loses access", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const carol = await newUser();
    const { chatThread } = await alice.chat.createChatThread({ topic: "T" });
    const tc = alice.thread(chatThread.id);

    const shareHistoryTime = new Date("2020-01-01T00:00:00Z");
    const added = await tc.addParticipants({
      participants: [
        { id: bob.user, displayName: "Bob", shareHistoryTime },
        { id: carol.user, displayName: "Carol" },
      ],
    });
    assert.ok(!added.invalidParticipants || added.invalidParticipants.length === 0);
    await tc.addParticipants({ participants: [{ id: bob.user }] }); // no-op

    const participants = await all(tc.listParticipants({ maxPageSize: 2 }));
    assert.deepEqual(
      participants.map((p) => [p.id.communicationUserId, p.displayName]),
      [
        [alice.id, undefined],
        [bob.id, "Bob"],
        [carol.id, "Carol"],
      ],
    );
    assert.equal(participants[1].shareHistoryTime.getTime(), shareHistoryTime.getTime());
    assert.deepEqual(
      (await all(tc.listParticipants({ skip: 2 }))).map((p) => p.id.communicationUserId),
      [carol.id],
    );

    await tc.removeParticipant(carol.user);
    assert.deepEqual(
      (await all(tc.listParticipants())).map((p) => p.id.communicationUserId),
      [alice.id, bob.id],
    );
    await assertForbidden(all(carol.thread(chatThread.id).listMessages()));
    const [newest] = await all(tc.listMessages({ maxPageSize: 1 }));
    assert.equal(newest.type, "participantRemoved");
    assert.deepEqual(
      newest.content.participants.map((p) => p.id.communicationUserId),
      [carol.id],
    );
  });
});

describe("Chat permissions", () => {
  it("refuses outsiders with 403", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const { chatThread } = await alice.chat.createChatThread({ topic: "private" });
    const bc = bob.thread(chatThread.id);
    await assertForbidden(bc.getProperties());
    await assertForbidden(bc.sendMessage({ content: "hi" }));
    await assertForbidden(all(bc.listMessages()));
    await assertForbidden(all(bc.listParticipants()));
    await assertForbidden(bob.chat.deleteChatThread(chatThread.id));
  });

  it("limits chat.join and chat.join.limited tokens, and refuses tokens without a chat scope", async () => {
    const alice = await newUser();
    const join = await newUser(["chat.join"]);
    const limited = await newUser(["chat.join.limited"]);
    const voip = await newUser(["voip"]);
    const extra = await newUser();
    const { chatThread } = await alice.chat.createChatThread(
      { topic: "T" },
      { participants: [join, limited, voip].map((u) => ({ id: u.user })) },
    );
    for (const user of [join, limited]) {
      await assertForbidden(user.chat.createChatThread({ topic: "mine" }));
      await assertForbidden(user.thread(chatThread.id).updateTopic("x"));
      await assertForbidden(user.chat.deleteChatThread(chatThread.id));
      await user.thread(chatThread.id).sendMessage({ content: "allowed" });
    }
    await join.thread(chatThread.id).addParticipants({ participants: [{ id: extra.user }] });
    await join.thread(chatThread.id).removeParticipant(extra.user);
    await assertForbidden(limited.thread(chatThread.id).addParticipants({ participants: [{ id: extra.user }] }));
    await assertForbidden(limited.thread(chatThread.id).removeParticipant(join.user));
    await assertForbidden(voip.thread(chatThread.id).getProperties());
  });

  it("answers 401 to a revoked token", async () => {
    const alice = await newUser();
    const { chatThread } = await alice.chat.createChatThread({ topic: "T" });
    await new CommunicationIdentityClient(emulator.connectionString).revokeTokens(alice.user);
    await assertRestError(alice.thread(chatThread.id).getProperties(), 401, "Unauthorized");
  });
});
