// The ACS Rooms API of acs-emulator, driven through the unmodified official JS SDK
// (@azure/communication-rooms 1.2.0, api-version 2025-03-13). Participants are users created
// through @azure/communication-identity on the same emulator.

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { RoomsClient } from "@azure/communication-rooms";
import { AzureKeyCredential } from "@azure/core-auth";
import { isRestError } from "@azure/core-rest-pipeline";
import { ClientSecretCredential } from "@azure/identity";
import { emulatorFromEnv, resetEmulator } from "./emulator.mjs";

const emulator = emulatorFromEnv();

const TRANSPORTS = [
  { name: "HTTPS with a connection string", client: () => new RoomsClient(emulator.connectionString) },
  {
    name: "plain HTTP with AzureKeyCredential and allowInsecureConnection",
    client: () =>
      new RoomsClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
        allowInsecureConnection: true,
      }),
  },
];

async function users(n) {
  const identity = new CommunicationIdentityClient(emulator.connectionString);
  const out = [];
  for (let i = 0; i < n; i++) out.push(await identity.createUser());
  return out;
}

async function collect(iter) {
  const out = [];
  for await (const item of iter) out.push(item);
  return out;
}

async function rejects(promise, status) {
  await assert.rejects(promise, (err) => isRestError(err) && err.statusCode === status);
}

for (const transport of TRANSPORTS) {
  describe(`RoomsClient over ${transport.name}`, () => {
    beforeEach(() => resetEmulator(emulator.httpEndpoint));

    it("creates, gets, updates, lists and deletes a room", async () => {
      const client = transport.client();
      const [alice] = await users(1);
      const validFrom = new Date(Date.now() + 3 * 86400e3);
      const validUntil = new Date(validFrom.getTime() + 28 * 86400e3);
      const room = await client.createRoom({
        validFrom,
        validUntil,
        pstnDialOutEnabled: true,
        participants: [{ id: alice, role: "Presenter" }],
      });
      assert.match(room.id, /^\d{17}$/);
      assert.equal(room.validFrom.getTime(), validFrom.getTime());
      assert.equal(room.validUntil.getTime(), validUntil.getTime());
      assert.ok(room.createdOn instanceof Date);
      assert.equal(room.pstnDialOutEnabled, true);

      const got = await client.getRoom(room.id);
      assert.equal(got.id, room.id);
      const updated = await client.updateRoom(room.id, { pstnDialOutEnabled: false });
      assert.equal(updated.pstnDialOutEnabled, false);
      assert.equal(updated.validUntil.getTime(), validUntil.getTime());

      assert.deepEqual((await collect(client.listRooms())).map((r) => r.id), [room.id]);
      await client.deleteRoom(room.id);
      await client.deleteRoom(room.id);
      await rejects(client.getRoom(room.id), 404);
    });

    it("adds, updates, lists and removes participants", async () => {
      const client = transport.client();
      const [a, b, c] = await users(3);
      const room = await client.createRoom();
      await client.addOrUpdateParticipants(room.id, [
        { id: a, role: "Attendee" },
        { id: b, role: "Collaborator" },
        { id: c, role: "Consumer" },
      ]);
      await client.addOrUpdateParticipants(room.id, [{ id: a, role: "Presenter" }]);
      const listed = await collect(client.listParticipants(room.id));
      const roles = Object.fromEntries(listed.map((p) => [p.id.communicationUserId, p.role]));
      assert.deepEqual(roles, {
        [a.communicationUserId]: "Presenter",
        [b.communicationUserId]: "Collaborator",
        [c.communicationUserId]: "Consumer",
      });
      await client.removeParticipants(room.id, [a, c]);
      const left = await collect(client.listParticipants(room.id));
      assert.deepEqual(left.map((p) => p.id.communicationUserId), [b.communicationUserId]);
    });

    it("answers the real errors", async () => {
      const client = transport.client();
      const now = Date.now();
      await rejects(
        client.createRoom({ validFrom: new Date(now), validUntil: new Date(now + 181 * 86400e3) }),
        400,
      );
      await rejects(client.getRoom("invalid_id"), 400);
      await rejects(client.getRoom("78469124725336262"), 404);
    });
  });
}

describe("RoomsClient paging and Entra ID", () => {
  beforeEach(() => resetEmulator(emulator.httpEndpoint));

  it("lists more than one page of rooms", async () => {
    const client = new RoomsClient(emulator.connectionString);
    const ids = [];
    for (let i = 0; i < 101; i++) ids.push((await client.createRoom()).id);
    assert.deepEqual((await collect(client.listRooms())).map((r) => r.id), ids);
  });

  it("takes an Entra ID credential", async () => {
    const credential = new ClientSecretCredential(
      "acacacac-0000-4000-8000-00000000000a",
      "acacacac-0000-4000-8000-00000000000c",
      "acs-emulator-client-secret",
      { authorityHost: emulator.httpsEndpoint.replace(/\/$/, ""), disableInstanceDiscovery: true },
    );
    const client = new RoomsClient(emulator.httpsEndpoint, credential);
    const room = await client.createRoom();
    assert.equal((await client.getRoom(room.id)).id, room.id);
  });
});
