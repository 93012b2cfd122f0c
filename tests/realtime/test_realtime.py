"""The browser end-to-end test of real-time chat notifications.

A page bundling the unmodified ``@azure/communication-chat`` (page/src.js, bundled by run.sh) is
served from its own origin (another localhost port) and loaded in headless Chromium as Bob; it
calls ``startRealtimeNotifications()`` against the emulator's HTTPS endpoint. Alice, with the
Python Chat SDK, sends, edits and deletes a message, types, sends a read receipt, adds and
removes a participant, changes the topic, creates and deletes a thread; the page must see each
event within a second with the right ids and content. Then the emulator drops the page's socket
and the SDK must reconnect by itself and hear the next message.

Trust: Chromium is launched with ``--ignore-certificate-errors`` (covers fetch, XHR and the
WebSocket); an application would trust the emulator's certificate in the browser instead.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "sdk" / "python"))

from acs_emulator import Emulator  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
]
WITHIN_MS = 1000


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the page server
        pass


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator().start()
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NO_PROXY", "no_proxy")}
    os.environ["REQUESTS_CA_BUNDLE"] = emu.bundle_path
    os.environ["SSL_CERT_FILE"] = emu.bundle_path
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    try:
        yield emu
    finally:
        emu.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def page_origin():
    """The page's own origin: a plain HTTP server on another port, serving build/."""
    build = HERE / "build"
    assert (build / "bundle.js").is_file(), "run tests/realtime/run.sh (it bundles the page)"
    handler = functools.partial(_Quiet, directory=str(build))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Page:
    """Bob's page: the events it saw, read through Playwright."""

    def __init__(self, page):
        self.page = page

    def events(self):
        return self.page.evaluate("() => window.__events")

    def status(self):
        return self.page.evaluate("() => window.__status")

    def logs(self):
        return self.page.evaluate("() => window.__logs.slice(-60)")

    def wait_for(self, name, match, after_ms, timeout=5.0, within_ms=WITHIN_MS):
        """The first ``name`` event (seen after ``after_ms``) that ``match`` accepts; asserts it
        came within a second of ``after_ms``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for ev in self.events():
                if ev["name"] == name and ev["at"] >= after_ms - 5 and match(ev["event"]):
                    latency = ev["at"] - after_ms
                    assert latency <= within_ms, f"{name} took {latency} ms"
                    return ev["event"]
            time.sleep(0.02)
        pytest.fail(
            f"no {name} within {timeout}s; status {self.status()}; events "
            f"{[e['name'] for e in self.events()]}; logs {self.logs()}"
        )


def emulator_post(emulator, path: str) -> dict:
    """A control API POST on the emulator's HTTP listener."""
    req = urllib.request.Request(emulator.http_endpoint.rstrip("/") + path, data=b"", method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as res:
        return json.loads(res.read())


def now_ms() -> float:
    return time.time() * 1000


def user_id(identifier) -> str:
    return (identifier or {}).get("communicationUserId", "")


def test_a_browser_page_hears_every_chat_event(emulator, page_origin):
    from azure.communication.chat import ChatClient, ChatParticipant, CommunicationTokenCredential
    from azure.communication.identity import CommunicationIdentityClient
    from playwright.sync_api import sync_playwright

    identity = CommunicationIdentityClient.from_connection_string(emulator.connection_string)
    alice, alice_token = identity.create_user_and_token(scopes=["chat"])
    bob, bob_token = identity.create_user_and_token(scopes=["chat"])
    carol = identity.create_user()
    endpoint = emulator.https_endpoint.rstrip("/")

    chat = ChatClient(endpoint, CommunicationTokenCredential(alice_token.token))
    created = chat.create_chat_thread(
        "before the page",
        thread_participants=[
            ChatParticipant(identifier=alice, display_name="Alice"),
            ChatParticipant(identifier=bob, display_name="Bob"),
        ],
    )
    thread_id = created.chat_thread.id
    thread = chat.get_chat_thread_client(thread_id)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            loaded = now_ms()
            page.goto(f"{page_origin}/index.html?endpoint={endpoint}&token={bob_token.token}")
            bob_page = Page(page)
            bob_page.wait_for(
                "realTimeNotificationConnected", lambda e: True, loaded, timeout=15, within_ms=15_000
            )
            assert bob_page.status() == "started", bob_page.status()

            # A message: received, edited, read, deleted.
            t = now_ms()
            message_id = thread.send_message("hello from python", sender_display_name="Alice").id
            ev = bob_page.wait_for("chatMessageReceived", lambda e: e["id"] == message_id, t)
            assert ev["threadId"] == thread_id
            assert ev["message"] == "hello from python"
            assert ev["senderDisplayName"] == "Alice"
            assert user_id(ev["sender"]) == alice.properties["id"]
            assert user_id(ev["recipient"]) == bob.properties["id"]

            t = now_ms()
            thread.update_message(message_id, content="edited from python")
            ev = bob_page.wait_for("chatMessageEdited", lambda e: e["id"] == message_id, t)
            assert ev["message"] == "edited from python"
            assert ev["editedOn"]

            t = now_ms()
            thread.send_typing_notification(sender_display_name="Alice")
            ev = bob_page.wait_for("typingIndicatorReceived", lambda e: e["threadId"] == thread_id, t)
            assert user_id(ev["sender"]) == alice.properties["id"]
            assert ev["senderDisplayName"] == "Alice"

            t = now_ms()
            thread.send_read_receipt(message_id)
            ev = bob_page.wait_for("readReceiptReceived", lambda e: e["chatMessageId"] == message_id, t)
            assert ev["threadId"] == thread_id
            assert user_id(ev["sender"]) == alice.properties["id"]

            t = now_ms()
            thread.delete_message(message_id)
            ev = bob_page.wait_for("chatMessageDeleted", lambda e: e["id"] == message_id, t)
            assert ev["threadId"] == thread_id and ev["deletedOn"]

            # Participants.
            t = now_ms()
            thread.add_participants([ChatParticipant(identifier=carol, display_name="Carol")])
            ev = bob_page.wait_for("participantsAdded", lambda e: e["threadId"] == thread_id, t)
            assert [user_id(p["id"]) for p in ev["participantsAdded"]] == [carol.properties["id"]]
            assert ev["participantsAdded"][0]["displayName"] == "Carol"
            assert user_id(ev["addedBy"]["id"]) == alice.properties["id"]

            t = now_ms()
            thread.remove_participant(carol)
            ev = bob_page.wait_for("participantsRemoved", lambda e: e["threadId"] == thread_id, t)
            assert [user_id(p["id"]) for p in ev["participantsRemoved"]] == [carol.properties["id"]]

            # The topic.
            t = now_ms()
            thread.update_topic("a new topic")
            ev = bob_page.wait_for("chatThreadPropertiesUpdated", lambda e: e["threadId"] == thread_id, t)
            assert ev["properties"]["topic"] == "a new topic"
            assert user_id(ev["updatedBy"]["id"]) == alice.properties["id"]

            # A thread created with Bob in it, then deleted.
            t = now_ms()
            second = chat.create_chat_thread(
                "second thread",
                thread_participants=[ChatParticipant(identifier=bob, display_name="Bob")],
            ).chat_thread.id
            ev = bob_page.wait_for("chatThreadCreated", lambda e: e["threadId"] == second, t)
            assert ev["properties"]["topic"] == "second thread"
            assert bob.properties["id"] in [user_id(p["id"]) for p in ev["participants"]]

            t = now_ms()
            chat.delete_chat_thread(second)
            ev = bob_page.wait_for("chatThreadDeleted", lambda e: e["threadId"] == second, t)
            assert ev["deletedOn"]

            names = [e["name"] for e in bob_page.events()]
            assert names.count("chatMessageReceived") == 1, names

            # The emulator drops Bob's socket (as a scenario rule or a flaky network would): the
            # SDK reconnects by itself and the next message arrives.
            t = now_ms()
            closed = emulator_post(emulator, f"/_emulator/realtime/close?user={quote(bob.properties['id'])}")
            assert closed["closed"] == 1, closed
            bob_page.wait_for("realTimeNotificationConnected", lambda e: True, t, timeout=15, within_ms=15_000)
            t = now_ms()
            again = thread.send_message("after the reconnect").id
            ev = bob_page.wait_for("chatMessageReceived", lambda e: e["id"] == again, t)
            assert ev["message"] == "after the reconnect"
            names = [e["name"] for e in bob_page.events()]
            assert names.count("realTimeNotificationConnected") == 2, names
        finally:
            browser.close()
