// The ACS Identity API of acs-emulator, driven through the unmodified official JS SDK
// (@azure/communication-identity). Run through `node run.mjs`, which starts the emulator and
// sets NODE_EXTRA_CA_CERTS to its certificate.

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { AzureKeyCredential } from "@azure/core-auth";
import { isRestError } from "@azure/core-rest-pipeline";
import { emulatorFromEnv, resetEmulator, startEmulator } from "./emulator.mjs";
import {
  USER_ID_PREFIX,
  decodeJwtPayload,
  mintEntraToken,
  newTeamsIdentity,
  randomAccessKey,
} from "./tokens.mjs";

const emulator = emulatorFromEnv();

const DEFAULT_LIFETIME_S = 1440 * 60; // the service default when no expiry is requested
const CLOCK_SLACK_S = 30; // tolerance between "now" here and in the emulator, plus request time

// Every scope the Identity API knows, alone and combined as applications use them.
const SCOPE_SETS = [
  ["chat"],
  ["voip"],
  ["chat", "voip"],
  ["chat.join"],
  ["chat.join.limited"],
  ["voip.join"],
  ["chat.join", "voip.join"],
];

// The two ways an application reaches the emulator with an access key.
const TRANSPORTS = [
  {
    name: "HTTPS with a connection string",
    client: () => new CommunicationIdentityClient(emulator.connectionString),
  },
  {
    name: "plain HTTP with AzureKeyCredential and allowInsecureConnection",
    client: () =>
      new CommunicationIdentityClient(emulator.httpEndpoint, new AzureKeyCredential(emulator.accessKey), {
        allowInsecureConnection: true,
      }),
  },
];

// ----------------------------------------------------------------------------- assertions
function assertEmulatorUserId(userId) {
  assert.ok(userId.startsWith(USER_ID_PREFIX), userId);
  const suffix = userId.slice(USER_ID_PREFIX.length);
  assert.ok(suffix.length > 0 && !suffix.includes("_"), `user part must be one '_'-free segment: ${userId}`);
  assert.equal(userId.split(":").length, 3, `exactly two ':' (the JS identifier parser needs it): ${userId}`);
}

/** The token is a JWT whose `exp` equals `expiresOn`, and both are ~now + the expected lifetime. */
function assertEmulatorToken({ token, expiresOn }, expectedLifetimeSeconds) {
  assert.ok(expiresOn instanceof Date && !Number.isNaN(expiresOn.getTime()), `expiresOn: ${expiresOn}`);
  const { exp } = decodeJwtPayload(token);
  assert.ok(Number.isInteger(exp), `exp must be an integer claim, got ${exp}`);
  assert.ok(Math.abs(exp * 1000 - expiresOn.getTime()) <= 2000, `exp ${exp} vs expiresOn ${expiresOn.toISOString()}`);
  const remaining = (expiresOn.getTime() - Date.now()) / 1000;
  assert.ok(
    Math.abs(remaining - expectedLifetimeSeconds) <= CLOCK_SLACK_S,
    `expiresOn ${expiresOn.toISOString()} is ${remaining.toFixed(0)} s away, expected about ${expectedLifetimeSeconds} s`,
  );
}

/** Assert that `promise` rejects with a RestError of this status (and ACS error code). */
async function assertRestError(promise, statusCode, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(isRestError(err), `expected a RestError, got ${err}`);
    assert.equal(err.statusCode, statusCode, err.message);
    if (code !== undefined) assert.equal(err.code, code, err.message);
    return true;
  });
}

// ----------------------------------------------------------------------------- the suite
beforeEach(() => resetEmulator(emulator.httpEndpoint));

describe("the test environment", () => {
  it("trusts the emulator certificate through NODE_EXTRA_CA_CERTS (its CA bundle) only", () => {
    assert.equal(process.env.NODE_EXTRA_CA_CERTS, emulator.bundlePath);
    assert.equal(process.env.NODE_TLS_REJECT_UNAUTHORIZED, undefined);
    assert.ok(emulator.connectionString.startsWith("endpoint=https://"), emulator.connectionString);
  });

  it("POST /_emulator/reset (run before every test) forgets every identity", async () => {
    const client = TRANSPORTS[0].client();
    const user = await client.createUser();

    await resetEmulator(emulator.httpEndpoint);

    await assertRestError(client.getToken(user, ["chat"]), 401);
  });
});

for (const transport of TRANSPORTS) {
  describe(`CommunicationIdentityClient over ${transport.name}`, () => {
    let client;
    before(() => {
      client = transport.client();
    });

    it("createUser returns a new ACS identity of the emulator resource", async () => {
      const first = await client.createUser();
      const second = await client.createUser();

      assertEmulatorUserId(first.communicationUserId);
      assertEmulatorUserId(second.communicationUserId);
      assert.notEqual(first.communicationUserId, second.communicationUserId);
    });

    for (const scopes of SCOPE_SETS) {
      it(`createUserAndToken issues a 24-hour token for scopes ${scopes.join("+")}`, async () => {
        const result = await client.createUserAndToken(scopes);

        assertEmulatorUserId(result.user.communicationUserId);
        assertEmulatorToken(result, DEFAULT_LIFETIME_S);
      });
    }

    for (const minutes of [60, 90, 1440]) {
      it(`createUserAndToken honours tokenExpiresInMinutes ${minutes}`, async () => {
        const result = await client.createUserAndToken(["chat", "voip"], { tokenExpiresInMinutes: minutes });

        assertEmulatorUserId(result.user.communicationUserId);
        assertEmulatorToken(result, minutes * 60);
      });
    }

    it("getToken without an expiry issues a 24-hour token", async () => {
      const user = await client.createUser();

      assertEmulatorToken(await client.getToken(user, ["chat"]), DEFAULT_LIFETIME_S);
    });

    for (const minutes of [60, 1440]) {
      it(`getToken honours tokenExpiresInMinutes ${minutes}`, async () => {
        const user = await client.createUser();

        const token = await client.getToken(user, ["chat.join", "voip.join"], { tokenExpiresInMinutes: minutes });

        assertEmulatorToken(token, minutes * 60);
      });
    }

    it("revokeTokens succeeds and tokens issued afterwards are valid", async () => {
      const { user } = await client.createUserAndToken(["chat"]);

      assert.equal(await client.revokeTokens(user), undefined);
      const fresh = await client.getToken(user, ["chat"]);

      assertEmulatorToken(fresh, DEFAULT_LIFETIME_S);
    });

    it("deleteUser makes the identity unknown (401 for getToken, revokeTokens and deleteUser)", async () => {
      const user = await client.createUser();

      assert.equal(await client.deleteUser(user), undefined);

      await assertRestError(client.getToken(user, ["chat"]), 401);
      await assertRestError(client.revokeTokens(user), 401);
      await assertRestError(client.deleteUser(user), 401);
    });

    it("getToken for a well-formed but unknown identity is 401", async () => {
      const stranger = { communicationUserId: `${USER_ID_PREFIX}${crypto.randomUUID()}` };

      await assertRestError(client.getToken(stranger, ["chat"]), 401);
    });

    for (const minutes of [59, 1441]) {
      it(`an expiry of ${minutes} minutes is 400 ValidationError for createUserAndToken and getToken`, async () => {
        const user = await client.createUser();

        await assertRestError(client.createUserAndToken(["chat"], { tokenExpiresInMinutes: minutes }), 400, "ValidationError");
        await assertRestError(client.getToken(user, ["chat"], { tokenExpiresInMinutes: minutes }), 400, "ValidationError");
      });
    }

    it("getToken with no scopes is 400", async () => {
      const user = await client.createUser();

      await assertRestError(client.getToken(user, []), 400);
    });

    it("getTokenForTeamsUser exchanges an Entra token and keeps its expiry", async () => {
      const teamsUser = newTeamsIdentity();
      const entraToken = mintEntraToken({ ...teamsUser, lifetimeSeconds: 3600 });

      const token = await client.getTokenForTeamsUser({
        teamsUserAadToken: entraToken,
        clientId: teamsUser.appId,
        userObjectId: teamsUser.objectId,
      });

      assert.notEqual(token.token, entraToken);
      assertEmulatorToken(token, 3600);
      assert.equal(decodeJwtPayload(token.token).exp, decodeJwtPayload(entraToken).exp);
    });

    it("getTokenForTeamsUser with another app id is 400 ValidationError", async () => {
      const teamsUser = newTeamsIdentity();

      await assertRestError(
        client.getTokenForTeamsUser({
          teamsUserAadToken: mintEntraToken(teamsUser),
          clientId: crypto.randomUUID(),
          userObjectId: teamsUser.objectId,
        }),
        400,
        "ValidationError",
      );
    });

    it("getTokenForTeamsUser with an expired Entra token is 401 InvalidAccessToken", async () => {
      const teamsUser = newTeamsIdentity();

      await assertRestError(
        client.getTokenForTeamsUser({
          teamsUserAadToken: mintEntraToken({ ...teamsUser, lifetimeSeconds: -600 }),
          clientId: teamsUser.appId,
          userObjectId: teamsUser.objectId,
        }),
        401,
        "InvalidAccessToken",
      );
    });

    it("getTokenForTeamsUser with a malformed token is 401 InvalidAccessToken", async () => {
      const teamsUser = newTeamsIdentity();

      await assertRestError(
        client.getTokenForTeamsUser({
          teamsUserAadToken: "definitely-not-a-jwt",
          clientId: teamsUser.appId,
          userObjectId: teamsUser.objectId,
        }),
        401,
        "InvalidAccessToken",
      );
    });

    it("AzureCommunicationTokenCredential accepts emulator tokens and reports their expiry", async () => {
      const issued = [];
      for (const scopes of SCOPE_SETS) issued.push(await client.createUserAndToken(scopes, { tokenExpiresInMinutes: 60 }));
      const teamsUser = newTeamsIdentity();
      issued.push(
        await client.getTokenForTeamsUser({
          teamsUserAadToken: mintEntraToken({ ...teamsUser, lifetimeSeconds: 5400 }),
          clientId: teamsUser.appId,
          userObjectId: teamsUser.objectId,
        }),
      );

      for (const { token, expiresOn } of issued) {
        const credential = new AzureCommunicationTokenCredential(token);
        try {
          const accessToken = await credential.getToken();
          assert.equal(accessToken.token, token);
          assert.equal(accessToken.expiresOnTimestamp, decodeJwtPayload(token).exp * 1000);
          assert.ok(Math.abs(accessToken.expiresOnTimestamp - expiresOn.getTime()) <= 2000);
        } finally {
          credential.dispose();
        }
      }
    });
  });
}

describe("connection options and authentication", () => {
  it("a connection string with the wrong access key is rejected with 401", async () => {
    const endpoint = emulator.connectionString.split(";")[0]; // "endpoint=https://…"
    const client = new CommunicationIdentityClient(`${endpoint};accesskey=${randomAccessKey()}`);

    await assertRestError(client.createUser(), 401);
  });

  it("the HTTPS endpoint is also reachable as localhost (the certificate names it)", async () => {
    const connectionString = emulator.connectionString.replace("://127.0.0.1:", "://localhost:");
    assert.ok(connectionString.includes("://localhost:"), connectionString);
    const client = new CommunicationIdentityClient(connectionString);

    const result = await client.createUserAndToken(["chat"]);

    assertEmulatorUserId(result.user.communicationUserId);
    assertEmulatorToken(result, DEFAULT_LIFETIME_S);
  });

  it("an AzureKeyCredential with the wrong key is rejected with 401 over plain HTTP", async () => {
    const client = new CommunicationIdentityClient(emulator.httpEndpoint, new AzureKeyCredential(randomAccessKey()), {
      allowInsecureConnection: true,
    });

    await assertRestError(client.createUserAndToken(["chat"]), 401);
  });
});

describe("an emulator started with --token-lifetime 30s", () => {
  let shortLived;
  before(async () => {
    shortLived = await startEmulator({ extraArgs: ["--token-lifetime", "30s"] });
  });
  after(async () => {
    await shortLived?.stop();
  });

  it("issues tokens that live 30 seconds whatever expiry was requested", async () => {
    // Its own certificate is not trusted by this process, so use its plain-HTTP listener.
    const client = new CommunicationIdentityClient(shortLived.httpEndpoint, new AzureKeyCredential(shortLived.accessKey), {
      allowInsecureConnection: true,
    });

    const created = await client.createUserAndToken(["chat"]);
    const requestedHour = await client.getToken(created.user, ["chat"], { tokenExpiresInMinutes: 60 });

    for (const token of [created, requestedHour]) {
      const remaining = (token.expiresOn.getTime() - Date.now()) / 1000;
      assert.ok(remaining > 20 && remaining <= 31, `expires in ${remaining} s`);
      const credential = new AzureCommunicationTokenCredential(token.token);
      assert.equal((await credential.getToken()).expiresOnTimestamp, decodeJwtPayload(token.token).exp * 1000);
      credential.dispose();
    }
  });
});
