// JWT / timestamp helpers shared by the JS SDK tests (no JWT library on purpose).

import { randomBytes, randomUUID } from "node:crypto";

/** Identity ids minted by the emulator for its default resource. */
export const RESOURCE_ID = "acacacac-0000-4000-8000-000000000001";
export const USER_ID_PREFIX = `8:acs:${RESOURCE_ID}_`;

const b64url = (value) => Buffer.from(value).toString("base64url");

/** Decode (without verifying) the payload of a compact JWT. */
export function decodeJwtPayload(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error(`not a compact JWT (expected 3 segments): ${token}`);
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

/**
 * An Entra-shaped access token of a Teams user, as the Teams token exchange expects.
 * The emulator does not check the signature (yet), so random bytes stand in for RS256.
 */
export function mintEntraToken({ appId, objectId, tenantId, lifetimeSeconds = 3600 }) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: "RS256", typ: "JWT" };
  const payload = {
    aud: "https://auth.msft.communication.azure.com",
    appid: appId,
    oid: objectId,
    tid: tenantId,
    exp: now + lifetimeSeconds,
    iat: now,
  };
  return [b64url(JSON.stringify(header)), b64url(JSON.stringify(payload)), b64url(randomBytes(256))].join(".");
}

/** A made-up Teams user: { appId, objectId, tenantId }. */
export function newTeamsIdentity() {
  return { appId: randomUUID(), objectId: randomUUID(), tenantId: randomUUID() };
}

/** A random, well-formed access key that the emulator does not know. */
export function randomAccessKey() {
  return randomBytes(64).toString("base64");
}
