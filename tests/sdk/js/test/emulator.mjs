// Start, stop and reset a real acs-emulator process for the JS SDK tests.
//
// run.mjs starts ONE emulator with startEmulator() and then runs `node --test` in a child
// process whose environment carries NODE_EXTRA_CA_CERTS=<emulator cert> (Node reads that
// variable only at process start) plus the ACS_EMULATOR_* variables below. Test files read
// them with emulatorFromEnv(). Tests that need a differently configured emulator (e.g.
// --token-lifetime) may call startEmulator() themselves and talk to its plain-HTTP listener.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");

/** The binary under test: $ACS_EMULATOR_BIN or <repo>/target/debug/acs-emulator. */
export function emulatorBinary() {
  return process.env.ACS_EMULATOR_BIN || join(REPO_ROOT, "target", "debug", "acs-emulator");
}

// One regex per line of the readiness block; the block is complete once all have matched.
const READY_PATTERNS = {
  httpsEndpoint: /HTTPS endpoint\s+(\S+)/,
  httpEndpoint: /HTTP endpoint\s+(\S+)/,
  connectionString: /Connection string\s+(\S+)/,
  certPath: /TLS certificate\s+(\S+)/,
  // The certificate plus the machine's trusted roots: what the tests trust, as a user would.
  bundlePath: /CA bundle\s+(\S+)/,
};

// Colour codes, in case the emulator ever decorates its banner.
const ANSI_ESCAPE = /\x1b\[[0-9;]*[A-Za-z]/g;

/** `accesskey` of `endpoint=…;accesskey=…` (the key itself may contain '='). */
export function accessKeyFrom(connectionString) {
  const match = /(?:^|;)\s*accesskey=([^;]+)/i.exec(connectionString);
  if (!match) throw new Error(`no accesskey in connection string ${connectionString}`);
  return match[1];
}

/**
 * Spawn the emulator on free ports and wait for its readiness block on stdout.
 * Rejects with the emulator's output if it exits early or is not ready within `timeoutMs`.
 * Resolves to { httpsEndpoint, httpEndpoint, connectionString, accessKey, certPath, bundlePath, stop(), outputTail() }.
 */
export function startEmulator({ extraArgs = [], timeoutMs = 20_000 } = {}) {
  const binary = emulatorBinary();
  if (!existsSync(binary)) {
    return Promise.reject(
      new Error(`emulator binary not found at ${binary}; run \`cargo build\` in ${REPO_ROOT} or set ACS_EMULATOR_BIN`),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "acs-emulator-sdk-"));
  const args = ["--port", "0", "--http-port", "0", "--tls-cert-out", join(dir, "cert.pem"), "--tls-ca-bundle-out", join(dir, "ca-bundle.pem"), "--log-level", "warn", ...extraArgs];
  // The binary reads its own ACS_EMULATOR_* configuration variables (access key, resource id,
  // token lifetime, ...). Drop them all so that a developer's shell (or the variables run.mjs
  // hands to the tests) cannot change what the tests expect; only the command line counts.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ACS_EMULATOR_")));
  const child = spawn(binary, args, { env, stdio: ["ignore", "pipe", "pipe"] });

  let stdout = "";
  let stderr = "";
  const outputTail = () =>
    `--- emulator stdout ---\n${stdout.slice(-8000)}\n--- emulator stderr ---\n${stderr.slice(-8000)}`;
  // Keep draining both pipes for the whole life of the process.
  child.stderr.setEncoding("utf8").on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-64_000);
  });

  const exited = new Promise((resolveExit) => child.once("exit", (code, signal) => resolveExit({ code, signal })));

  const stop = async () => {
    // child.pid is undefined when the spawn itself failed (then there is nothing to wait for).
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  return new Promise((resolveReady, rejectReady) => {
    const found = {};
    let ready = false;
    const fail = async (message) => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      await stop();
      rejectReady(new Error(`${message}\ncommand: ${binary} ${args.join(" ")}\n${outputTail()}`));
    };
    const timer = setTimeout(() => fail(`acs-emulator did not print its ready block within ${timeoutMs / 1000} s.`), timeoutMs);

    child.once("error", (err) => fail(`could not start acs-emulator: ${err.message}`));
    child.once("exit", (code, signal) => fail(`acs-emulator exited (code ${code}, signal ${signal}) before it was ready.`));

    let pending = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout = (stdout + chunk).slice(-64_000);
      if (ready) return;
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        const plain = line.replace(ANSI_ESCAPE, "");
        for (const [key, pattern] of Object.entries(READY_PATTERNS)) {
          const match = pattern.exec(plain);
          if (match && !(key in found)) found[key] = match[1];
        }
      }
      if (Object.keys(found).length === Object.keys(READY_PATTERNS).length) {
        ready = true;
        clearTimeout(timer);
        resolveReady({
          ...found,
          accessKey: accessKeyFrom(found.connectionString),
          pid: child.pid,
          isRunning: () => child.exitCode === null && child.signalCode === null,
          stop,
          outputTail,
        });
      }
    });
  });
}

/** Environment handed by run.mjs to the `node --test` child process. */
export function emulatorEnv(emulator) {
  return {
    ACS_EMULATOR_HTTPS_ENDPOINT: emulator.httpsEndpoint,
    ACS_EMULATOR_HTTP_ENDPOINT: emulator.httpEndpoint,
    ACS_EMULATOR_CONNECTION_STRING: emulator.connectionString,
    ACS_EMULATOR_CERT_FILE: emulator.certPath,
    ACS_EMULATOR_CA_BUNDLE: emulator.bundlePath,
  };
}

/** The emulator started by run.mjs, as seen from inside a test process. */
export function emulatorFromEnv() {
  const env = process.env;
  const missing = Object.keys(emulatorEnv({})).filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new Error(`${missing.join(", ")} not set: run these tests through \`node run.mjs\` (tests/sdk/js), not plain \`node --test\``);
  }
  return {
    httpsEndpoint: env.ACS_EMULATOR_HTTPS_ENDPOINT,
    httpEndpoint: env.ACS_EMULATOR_HTTP_ENDPOINT,
    connectionString: env.ACS_EMULATOR_CONNECTION_STRING,
    accessKey: accessKeyFrom(env.ACS_EMULATOR_CONNECTION_STRING),
    certPath: env.ACS_EMULATOR_CERT_FILE,
    bundlePath: env.ACS_EMULATOR_CA_BUNDLE,
  };
}

/** Clear all emulator state: POST /_emulator/reset on the plain-HTTP listener (no auth). */
export async function resetEmulator(httpEndpoint) {
  const response = await fetch(new URL("/_emulator/reset", httpEndpoint), { method: "POST" });
  if (!response.ok) throw new Error(`POST /_emulator/reset answered ${response.status}`);
}
