// Microsoft Entra ID authentication against the emulator's built-in token authority, through the
// unmodified @azure/identity credentials and @azure/communication-identity client. Apps change only
// configuration: the emulator's HTTPS URL as authorityHost (with instance discovery disabled), or
// IDENTITY_ENDPOINT + IDENTITY_HEADER for managed identity.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { SmsClient } from "@azure/communication-sms";
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import { emulatorFromEnv } from "./emulator.mjs";
import { USER_ID_PREFIX } from "./tokens.mjs";

const emulator = emulatorFromEnv();
const TENANT = "acacacac-0000-4000-8000-00000000000a";
const CLIENT_ID = "acacacac-0000-4000-8000-00000000000c";
const CLIENT_SECRET = "acs-emulator-client-secret";
const authorityHost = emulator.httpsEndpoint.replace(/\/$/, "");

async function checkIdentityOperations(credential) {
  const client = new CommunicationIdentityClient(emulator.httpsEndpoint, credential);
  const { user, token } = await client.createUserAndToken(["chat"]);
  assert.ok(user.communicationUserId.startsWith(USER_ID_PREFIX), user.communicationUserId);
  assert.equal(token.split(".").length, 3);
  const again = await client.getToken(user, ["voip"]);
  assert.notEqual(again.token, token);
  await client.revokeTokens(user);
  await client.deleteUser(user);
}

/** Runs `fn` with the given environment variables set, restoring them afterwards. */
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("Entra ID authentication", () => {
  it("ClientSecretCredential with the emulator as authorityHost drives every Identity operation", async () => {
    const credential = new ClientSecretCredential(TENANT, CLIENT_ID, CLIENT_SECRET, {
      authorityHost,
      disableInstanceDiscovery: true,
    });
    await checkIdentityOperations(credential);
  });

  it("ManagedIdentityCredential via IDENTITY_ENDPOINT and IDENTITY_HEADER drives Identity", async () => {
    await withEnv(
      {
        IDENTITY_ENDPOINT: `${emulator.httpEndpoint.replace(/\/$/, "")}/msi/token`,
        IDENTITY_HEADER: "acs-emulator-identity-header",
      },
      () => checkIdentityOperations(new ManagedIdentityCredential()),
    );
  });

  it("DefaultAzureCredential picks up the managed identity environment", async () => {
    await withEnv(
      {
        IDENTITY_ENDPOINT: `${emulator.httpEndpoint.replace(/\/$/, "")}/msi/token`,
        IDENTITY_HEADER: "acs-emulator-identity-header",
      },
      () => checkIdentityOperations(new DefaultAzureCredential()),
    );
  });

  it("SmsClient sends with a ClientSecretCredential and with the managed identity", async () => {
    const secret = new ClientSecretCredential(TENANT, CLIENT_ID, CLIENT_SECRET, {
      authorityHost,
      disableInstanceDiscovery: true,
    });
    const results = await new SmsClient(emulator.httpsEndpoint, secret).send({
      from: "+18005550100",
      to: ["+14255550123", "+14255550124"],
      message: "hello via Entra ID",
    });
    assert.deepEqual(results.map((r) => r.successful), [true, true]);
    await withEnv(
      {
        IDENTITY_ENDPOINT: `${emulator.httpEndpoint.replace(/\/$/, "")}/msi/token`,
        IDENTITY_HEADER: "acs-emulator-identity-header",
      },
      async () => {
        const [result] = await new SmsClient(emulator.httpsEndpoint, new DefaultAzureCredential()).send({
          from: "+18005550100",
          to: ["+14255550125"],
          message: "managed identity",
        });
        assert.equal(result.successful, true);
        assert.ok(result.messageId);
      },
    );
  });

  it("a wrong client secret is refused by the authority", async () => {
    const credential = new ClientSecretCredential(TENANT, CLIENT_ID, "wrong", {
      authorityHost,
      disableInstanceDiscovery: true,
    });
    const client = new CommunicationIdentityClient(emulator.httpsEndpoint, credential);
    await assert.rejects(client.createUser(), (err) => {
      assert.match(String(err.message), /AADSTS7000215/);
      return true;
    });
  });
});
