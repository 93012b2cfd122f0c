#!/usr/bin/env bash
# A bounded soak: drives identity create/issue/delete, SMS sends (with delivery reports and
# repeatability ids), SMS opt-outs and chat messages (over HTTPS, with user tokens) against a
# local emulator with small caps, and samples its RSS, to show that memory levels off once the
# caps are reached instead of growing with the number of requests.
#
#   scripts/soak.sh [seconds] [binary]      default: 90 s, target/release/acs-emulator (or debug)
#
# Caps (environment, default): SOAK_MAX_IDENTITIES (20000), SOAK_MAX_SMS_OUTBOX (20000),
# SOAK_MAX_SMS_OPT_OUTS (20000), SOAK_MAX_CHAT_THREADS (1000), SOAK_MAX_CHAT_MESSAGES (20000).
# A 403 with one of the documented `…LimitReached` codes is the expected answer at a cap; any
# 5xx, 400, 401, 404 or other 403 fails the run.
#
# Only talks to 127.0.0.1. Prints one line per sample: elapsed, requests so far, RSS (KiB).
set -euo pipefail

seconds="${1:-90}"
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${2:-}"
if [ -z "$binary" ]; then
    binary="$root/target/release/acs-emulator"
    [ -x "$binary" ] || binary="$root/target/debug/acs-emulator"
fi
[ -x "$binary" ] || { echo "build the emulator first (cargo build --release)" >&2; exit 2; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tls=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cert="$(mktemp -d)/cert.pem"
"$binary" --host 127.0.0.1 --http-port "$port" --port "$tls" --log-level error \
    --max-identities "${SOAK_MAX_IDENTITIES:-20000}" --max-sms-outbox "${SOAK_MAX_SMS_OUTBOX:-20000}" \
    --max-sms-opt-outs "${SOAK_MAX_SMS_OPT_OUTS:-20000}" \
    --max-chat-threads "${SOAK_MAX_CHAT_THREADS:-1000}" --max-chat-messages "${SOAK_MAX_CHAT_MESSAGES:-20000}" \
    --tls-cert-out "$cert" >/dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$port/_emulator/health" >/dev/null 2>&1 && break
    sleep 0.1
done

python3 - "$port" "$seconds" "$pid" "$tls" "$cert" <<'PY'
import base64, collections, hashlib, hmac, http.client, json, random, ssl, sys, threading, time, uuid
from email.utils import formatdate

port, seconds, pid, tls_port, cert = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
tls = ssl.create_default_context(cafile=cert)
key = base64.b64decode("mTisQgAEcpR1A3Gl/8Jun7D9tBErXplwaHvlwXR+9tclRej7ardRSiLRlN41Uwrpg6l8KGoxMu9akJuvzwcMeg==")
host = f"127.0.0.1:{port}"
count = [0]
full = collections.Counter()  # documented 403 `…LimitReached` answers, by code
LIMIT_CODES = {"IdentityLimitReached", "ChatThreadLimitReached", "MessageLimitReached", "OptOutLimitReached"}
errors = []
stop = time.monotonic() + seconds

def rss():
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])

def check(status, target, data):
    count[0] += 1
    if status == 403:
        code = json.loads(data).get("error", {}).get("code")
        if code in LIMIT_CODES:
            full[code] += 1  # a cap reached: the documented answer, not a failure
            return
    if status >= 500 or status in (400, 401, 403, 404):
        errors.append((status, target, data[:200]))

def call(conn, method, target, body=b""):
    date = formatdate(usegmt=True)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    sts = f"{method}\n{target}\n{date};{host};{digest}"
    sig = base64.b64encode(hmac.new(key, sts.encode(), hashlib.sha256).digest()).decode()
    conn.request(method, target, body=body, headers={
        "x-ms-date": date, "x-ms-content-sha256": digest, "content-type": "application/json",
        "authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}"})
    res = conn.getresponse()
    data = res.read()
    check(res.status, target, data)
    return res.status, data

def chat(conn, token, method, target, body):
    conn.request(method, target, body=json.dumps(body).encode(), headers={
        "authorization": f"Bearer {token}", "content-type": "application/json"})
    res = conn.getresponse()
    data = res.read()
    check(res.status, target, data)
    return res.status, data

CHAT_V = "2025-03-15"

def new_thread(secure, token, n):
    status, data = chat(secure, token, "POST", f"/chat/threads?api-version={CHAT_V}", {"topic": f"soak {n}"})
    return json.loads(data)["chatThread"]["id"].replace(":", "%3A").replace("@", "%40") if status == 201 else None

def worker(n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    secure = http.client.HTTPSConnection("127.0.0.1", tls_port, timeout=30, context=tls)
    # This worker's chat user (kept: the identity churn below deletes only the others).
    status, data = call(conn, "POST", "/identities?api-version=2023-10-01", b'{"createTokenWithScopes":["chat"]}')
    token = json.loads(data)["accessToken"]["token"]
    thread = new_thread(secure, token, n)
    i = 0
    while time.monotonic() < stop:
        i += 1
        status, data = call(conn, "POST", "/identities?api-version=2023-10-01", b'{"createTokenWithScopes":["chat"]}')
        if status == 201:
            uid = json.loads(data)["identity"]["id"].replace(":", "%3A")
            call(conn, "POST", f"/identities/{uid}/:issueAccessToken?api-version=2023-10-01", b'{"scopes":["voip"]}')
            if i % 4:  # keep a quarter of them: live identities fill the table, tombstones are dropped
                call(conn, "DELETE", f"/identities/{uid}?api-version=2023-10-01")
        sms = {"from": "+18005550100", "message": "soak " + "x" * 100,
               "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": str(uuid.uuid4()),
                                  "repeatabilityFirstSent": formatdate(usegmt=True)}],
               "smsSendOptions": {"enableDeliveryReport": True, "tag": f"w{n}"}}
        call(conn, "POST", "/sms?api-version=2021-03-07", json.dumps(sms).encode())
        optout = {"from": "+18005550100", "recipients": [{"to": f"+1206{random.randrange(10**7):07d}"}]}
        call(conn, "POST", "/sms/optouts:add?api-version=2026-01-23", json.dumps(optout).encode())
        if thread is None or i % 50 == 0:  # a new thread now and then, until their cap
            thread = new_thread(secure, token, n) or thread
        if thread is not None:
            chat(secure, token, "POST", f"/chat/threads/{thread}/messages?api-version={CHAT_V}",
                 {"content": f"soak {n}.{i} " + "y" * 100})

threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(4)]
start = time.monotonic()
for t in threads:
    t.start()
print(f"{'elapsed':>8} {'requests':>9} {'rss_kib':>8}")
samples = []
while any(t.is_alive() for t in threads):
    time.sleep(min(10, max(0.1, stop - time.monotonic())) if time.monotonic() < stop else 0.5)
    r = rss()
    samples.append(r)
    print(f"{time.monotonic() - start:8.1f} {count[0]:9d} {r:8d}", flush=True)
for t in threads:
    t.join()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
conn.request("GET", "/_emulator/sms?count=1"); outbox = len(json.loads(conn.getresponse().read())["value"])
print(f"requests: {count[0]}  403 at a cap: {dict(full) or 0}  failures: {len(errors)}  outbox at end: {outbox}  "
      f"rss first/max/last sample: {samples[0]}/{max(samples)}/{samples[-1]} KiB")
if errors:
    print("failures:", errors[:3])
    sys.exit(1)
PY
