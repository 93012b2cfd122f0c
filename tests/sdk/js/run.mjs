#!/usr/bin/env node
// Entry point of the JS SDK tests: `node run.mjs [node --test options] [test files]`.
//
// 1. starts ONE acs-emulator (test/emulator.mjs);
// 2. runs `node --test` in a child process whose environment has
//      NODE_EXTRA_CA_CERTS=<the emulator's CA bundle>     (Node reads it only at start-up,
//                                                           hence the child process)
//      ACS_EMULATOR_{HTTPS_ENDPOINT,HTTP_ENDPOINT,CONNECTION_STRING,CERT_FILE,CA_BUNDLE};
// 3. stops the emulator and exits with the test run's exit code.
//
// Examples:
//   node run.mjs                                         # every test/*.test.mjs
//   node run.mjs --test-name-pattern="Teams"             # only tests whose name matches
//   node run.mjs test/identity.test.mjs
// Give node --test options in their --option=value form (a bare word is taken as a test file).

import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { emulatorEnv, startEmulator } from "./test/emulator.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith("-"));
// Human-readable output unless the caller chose a reporter (TAP is Node's default off a TTY).
if (!flags.some((flag) => flag.startsWith("--test-reporter"))) flags.unshift("--test-reporter=spec");
let files = args.filter((arg) => !arg.startsWith("-"));
if (files.length === 0) {
  files = readdirSync(join(here, "test"))
    .filter((name) => name.endsWith(".test.mjs"))
    .sort()
    .map((name) => join("test", name));
}

let emulator;
try {
  emulator = await startEmulator({ timeoutMs: Number(process.env.ACS_EMULATOR_START_TIMEOUT || 20) * 1000 });
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
console.log(`acs-emulator ready at ${emulator.httpsEndpoint} and ${emulator.httpEndpoint}`);

const noProxy = [process.env.NO_PROXY, "127.0.0.1", "localhost"].filter(Boolean).join(",");
const env = {
  ...process.env,
  ...emulatorEnv(emulator),
  // Trust the emulator's certificate exactly as the README tells an application to: through its
  // CA bundle (the certificate plus the machine's roots).
  NODE_EXTRA_CA_CERTS: emulator.bundlePath,
  NO_PROXY: noProxy,
  no_proxy: noProxy,
};
delete env.NODE_TLS_REJECT_UNAUTHORIZED; // the point is to prove that real verification passes

// One test file at a time: all files share the emulator, and every test resets its state.
const child = spawn(process.execPath, ["--test", "--test-concurrency=1", ...flags, ...files], {
  cwd: here,
  env,
  stdio: "inherit",
});

const shutdown = (signal) => child.kill(signal);
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

const [code, signal] = await new Promise((resolve) => child.once("exit", (...result) => resolve(result)));
const stillRunning = emulator.isRunning();
await emulator.stop();
if (!stillRunning) {
  console.error(`acs-emulator died during the tests.\n${emulator.outputTail()}`);
  process.exit(1);
}
process.exit(code ?? (signal ? 1 : 0));
