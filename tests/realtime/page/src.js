// The browser end-to-end test's page: the unmodified browser Chat SDK, bundled by esbuild at
// setup (run.sh), starting real-time notifications against the emulator from another origin.
// Query: ?endpoint=<emulator https endpoint>&token=<user access token>.
// Every event lands in window.__events as {name, at (ms), event}; SDK log lines in window.__logs.
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { AzureLogger, setLogLevel } from "@azure/logger";

const EVENTS = [
  "realTimeNotificationConnected",
  "realTimeNotificationDisconnected",
  "chatMessageReceived",
  "chatMessageEdited",
  "chatMessageDeleted",
  "typingIndicatorReceived",
  "readReceiptReceived",
  "chatThreadCreated",
  "chatThreadPropertiesUpdated",
  "chatThreadDeleted",
  "participantsAdded",
  "participantsRemoved",
];

window.__events = [];
window.__logs = [];
window.__status = "starting";

setLogLevel("info");
AzureLogger.log = (...args) => {
  if (window.__logs.length < 2000) window.__logs.push(args.join(" "));
};

async function main() {
  const params = new URLSearchParams(window.location.search);
  const endpoint = params.get("endpoint");
  const token = params.get("token");
  const client = new ChatClient(endpoint, new AzureCommunicationTokenCredential(token));
  // As docs/chat.md shows it: start, then subscribe.
  await client.startRealtimeNotifications();
  for (const name of EVENTS) {
    client.on(name, (event) => {
      window.__events.push({ name, at: Date.now(), event: event ?? null });
    });
  }
  window.__status = "started";
}

main().catch((err) => {
  window.__status = "failed: " + (err && err.message ? err.message : String(err));
});
