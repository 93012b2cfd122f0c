#!/usr/bin/env python3
"""Load benchmark of the acs-emulator release binary on 127.0.0.1, with wrk.

Every workload sends real, valid requests (HMAC-signed Identity and SMS calls, Chat calls with a
user access token) and is reported next to `GET /_emulator/health`, measured in the same run on
the same process, as ratios: this machine is shared and noisy, so absolute requests/s swing, while
the ratio to the in-process baseline and the server's CPU time per request are stable.

    make bench                      # = cargo build --release && python3 bench/load.py
    python3 bench/load.py --duration 5 --connections 32,256 --json results.json

Server CPU per request comes from the process's own accounting (/proc/<pid>/stat utime+stime)
over each wrk run. wrk (Debian package `wrk`) runs on the same 2 cores, so requests/s are lower
bounds. Each run is bounded by --duration; the whole benchmark takes a few minutes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import startup  # noqa: E402  (bench/startup.py)

REPO = Path(__file__).resolve().parents[1]
ACCESS_KEY = "mTisQgAEcpR1A3Gl/8Jun7D9tBErXplwaHvlwXR+9tclRej7ardRSiLRlN41Uwrpg6l8KGoxMu9akJuvzwcMeg=="
SENDER = "+18005550100"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The store caps (README "Limits") refuse more than 100,000 messages per thread and 1,000,000
# messages or identities in all: the workloads here store more (a 1,000,000-message thread, a chat
# send run of several seconds into one thread, a million identities for the memory figures).
CAPS = ["--max-chat-messages-per-thread", "100000000", "--max-chat-messages", "100000000",
        "--max-identities", "100000000"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Result:
    workload: str
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    errors: int


class Emulator:
    """The release binary on free ports, and a few helpers to prepare state over HTTP."""

    def __init__(self, binary: Path, extra: list[str], prefix: list[str] | None = None):
        """`prefix`: a command the binary runs under (valgrind, in bench/instructions.py)."""
        self.dir = tempfile.mkdtemp(prefix="acs-bench-")
        self.proc = subprocess.Popen(
            [*(prefix or []), str(binary), "--port", "0", "--http-port", "0", "--log-level", "error",
             "--tls-cert-out", os.path.join(self.dir, "cert.pem"), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.http = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip().startswith("HTTP endpoint"):
                self.http = line.split()[-1].rstrip("/")
            if "Stop with" in line:
                break
        if not self.http:
            raise SystemExit("the emulator did not start")
        self.host = self.http.removeprefix("http://")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def signed(self, method: str, path: str, body: bytes = b"") -> Request:
        """A request signed as the SDKs sign it (valid for --clock-skew, 15 minutes by default)."""
        date = formatdate(usegmt=True)
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        to_sign = f"{method}\n{path}\n{date};{self.host};{content_hash}"
        signature = base64.b64encode(
            hmac.new(base64.b64decode(ACCESS_KEY), to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        headers = {
            "x-ms-date": date,
            "x-ms-content-sha256": content_hash,
            "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
            "Content-Type": "application/json",
        }
        return Request(method, path, headers, body)

    def bearer(self, method: str, path: str, token: str, body: bytes = b"") -> Request:
        headers = {"Authorization": f"Bearer {token}"}
        if body:
            headers["Content-Type"] = "application/json"
        return Request(method, path, headers, body)

    def call(self, request: Request) -> tuple[int, dict, dict]:
        req = urllib.request.Request(self.http + request.path, data=request.body or None,
                                     method=request.method, headers=request.headers)
        try:
            with OPENER.open(req, timeout=30) as res:
                text = res.read()
                return res.status, (json.loads(text) if text else {}), dict(res.headers)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}"), dict(err.headers)

    def create_user(self, scopes: list[str]) -> tuple[str, str]:
        status, body, _ = self.call(self.signed(
            "POST", "/identities?api-version=2023-10-01", json.dumps({"createTokenWithScopes": scopes}).encode()))
        assert status == 201, (status, body)
        return body["identity"]["id"], body["accessToken"]["token"]


def lua_script(request: Request, directory: str, name: str) -> str:
    """A wrk script that sends one fixed request."""
    lines = [f'wrk.method = "{request.method}"', f"wrk.path = {json.dumps(request.path)}"]
    for key, value in request.headers.items():
        lines.append(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}")
    if request.body:
        lines.append(f"wrk.body = {json.dumps(request.body.decode())}")
    path = os.path.join(directory, f"{name}.lua")
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(emulator: Emulator, script: str, connections: int, duration: float, threads: int) -> tuple[int, float, float, float, int, float]:
    cpu_before = emulator.cpu_seconds()
    seconds = max(1, round(duration))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
         "-s", script, emulator.http],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    cpu = emulator.cpu_seconds() - cpu_before
    try:
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        distribution = {int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+([\d.]+[a-z]+)\s*$", out, re.M)}
        p50, p99 = distribution[50], distribution[99]
    except (AttributeError, KeyError, ValueError) as err:
        raise SystemExit(f"could not read wrk's output ({err}):\n{out}") from err
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return requests, rps, p50, p99, errors, cpu


def measure(emulator: Emulator, name: str, request: Request, conns: list[int], duration: float,
            threads: int, workdir: str, warmup: float) -> list[Result]:
    script = lua_script(request, workdir, re.sub(r"\W+", "_", name))
    run_wrk(emulator, script, conns[0], warmup, threads)  # warm-up, not recorded
    results = []
    for c in conns:
        requests, rps, p50, p99, errors, cpu = run_wrk(emulator, script, c, duration, threads)
        results.append(Result(name, c, requests, rps, p50, p99, cpu * 1e6 / max(requests, 1), errors))
        print(f"  {name:<38} c={c:<4} {rps:>9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
              f"{results[-1].cpu_us:6.1f} µs CPU/req  errors {errors}", flush=True)
    return results


def fill(emulator: Emulator, request: Request, count: int, workdir: str, threads: int, rate_hint: float) -> int:
    """Sends about `count` copies of `request` (for memory measurements); returns how many were sent."""
    script = lua_script(request, workdir, "fill")
    sent = 0
    while sent < count:
        seconds = max(1.0, min(60.0, (count - sent) / max(rate_hint, 1000.0) * 1.05))
        requests, rps, _, _, errors, _ = run_wrk(emulator, script, 64, round(seconds), threads)
        if errors:
            raise SystemExit(f"fill: {errors} errors")
        sent += requests
        rate_hint = rps
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "acs-emulator")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per workload")
    parser.add_argument("--connections", default="32,256")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the cores)")
    parser.add_argument("--memory-items", type=int, default=1_000_000,
                        help="identities and chat messages stored for the memory figures (0: skip)")
    parser.add_argument("--paging-sizes", default="10,100000,1000000",
                        help="thread sizes for the list-messages workloads")
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if not args.binary.is_file():
        raise SystemExit(f"{args.binary} not found: run `cargo build --release` first")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk (Debian/Ubuntu)")
    conns = [int(c) for c in args.connections.split(",")]
    workdir = tempfile.mkdtemp(prefix="acs-bench-lua-")
    report: dict = {"machine": machine(), "results": [], "memory": {}, "startup": {}}
    try:
        run_load(args, conns, workdir, report)
        run_memory(args, workdir, report)
        run_startup(args, report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def run_load(args, conns: list[int], workdir: str, report: dict) -> None:
    print(f"load: {args.duration:g} s per run, connections {conns}, wrk threads {args.threads}")
    emulator = Emulator(args.binary, CAPS)
    results: list[Result] = []
    try:
        token, encoded, thread_id = prepare(emulator, ["chat", "voip"])
        for name, request in workloads(emulator, token, encoded, thread_id):
            results += measure(emulator, name, request, conns, args.duration, args.threads, workdir, args.warmup)

        # Paging: the first page of 20 in threads of growing size. Every thread is filled before
        # any is measured, so that all are measured in the same process state (a heap grown by a
        # million messages makes every request a little slower, whatever thread it reads).
        listings = []
        for size in [int(s) for s in args.paging_sizes.split(",") if s]:
            status, thread, _ = emulator.call(emulator.bearer(
                "POST", "/chat/threads?api-version=2024-03-07", token, json.dumps({"topic": f"{size}"}).encode()))
            assert status == 201, (status, thread)
            tid = thread["chatThread"]["id"].replace(":", "%3A").replace("@", "%40")
            send = emulator.bearer("POST", f"/chat/threads/{tid}/messages?api-version=2024-03-07", token,
                                   b'{"content":"m"}')
            have = 2  # the participantAdded and topicUpdated system messages
            if size > have:
                fill(emulator, send, size - have, workdir, args.threads, 30000)
            listing = emulator.bearer("GET", f"/chat/threads/{tid}/messages?maxPageSize=20&api-version=2024-03-07", token)
            status, page, _ = emulator.call(listing)
            assert status == 200 and len(page["value"]) == 20 or size < 20, (status, len(page.get("value", [])))
            listings.append((size, listing))
        for size, listing in listings:
            results += measure(emulator, f"chat list messages, page of 20, {size:,}-message thread", listing,
                               conns, args.duration, args.threads, workdir, args.warmup)
    finally:
        emulator.stop()
    report["results"] = [r.__dict__ for r in results]


def prepare(emulator: Emulator, scopes: list[str]) -> tuple[str, str, str]:
    """A user with a token for `scopes` and a thread of theirs: (token, percent-encoded user id,
    percent-encoded thread id), as `workloads` takes them."""
    user, token = emulator.create_user(scopes)
    status, thread, _ = emulator.call(emulator.bearer(
        "POST", "/chat/threads?api-version=2024-03-07", token, json.dumps({"topic": "bench"}).encode()))
    assert status == 201, (status, thread)
    thread_id = thread["chatThread"]["id"].replace(":", "%3A").replace("@", "%40")
    return token, user.replace(":", "%3A"), thread_id


def workloads(emulator: Emulator, token: str, user: str, thread: str) -> list[tuple[str, Request]]:
    """The write workloads and the baseline, for `token` of `user` (percent-encoded) in `thread`."""
    recipients10 = [{"to": f"+1425555{n:04d}"} for n in range(10)]
    return [
        ("health (baseline)", Request("GET", "/_emulator/health")),
        ("identity create + token", emulator.signed(
            "POST", "/identities?api-version=2023-10-01", b'{"createTokenWithScopes":["chat"]}')),
        ("identity issueAccessToken", emulator.signed(
            "POST", f"/identities/{user}/:issueAccessToken?api-version=2023-10-01", b'{"scopes":["chat"]}')),
        ("sms send, 1 recipient", emulator.signed("POST", "/sms?api-version=2021-03-07", json.dumps(
            {"from": SENDER, "smsRecipients": [{"to": "+14255550123"}], "message": "bench",
             "smsSendOptions": {"enableDeliveryReport": False}}).encode())),
        ("sms send, 10 recipients", emulator.signed("POST", "/sms?api-version=2021-03-07", json.dumps(
            {"from": SENDER, "smsRecipients": recipients10, "message": "bench",
             "smsSendOptions": {"enableDeliveryReport": False}}).encode())),
        ("chat send message", emulator.bearer(
            "POST", f"/chat/threads/{thread}/messages?api-version=2024-03-07", token,
            b'{"content":"hello from the benchmark","senderDisplayName":"Bench"}')),
    ]


def run_memory(args, workdir: str, report: dict) -> None:
    if args.memory_items <= 0:
        return
    print(f"memory: RSS growth for {args.memory_items:,} identities and {args.memory_items:,} chat messages")
    for kind in ["identities", "chat messages"]:
        emulator = Emulator(args.binary, CAPS)
        try:
            if kind == "identities":
                request = emulator.signed("POST", "/identities?api-version=2023-10-01", b"")
            else:
                _, token = emulator.create_user(["chat"])
                _, thread, _ = emulator.call(emulator.bearer(
                    "POST", "/chat/threads?api-version=2024-03-07", token, b'{"topic":"memory"}'))
                tid = thread["chatThread"]["id"].replace(":", "%3A").replace("@", "%40")
                request = emulator.bearer("POST", f"/chat/threads/{tid}/messages?api-version=2024-03-07", token,
                                          b'{"content":"a typical short chat message"}')
            time.sleep(0.5)
            before = emulator.rss_mb()
            sent = fill(emulator, request, args.memory_items, workdir, args.threads, 30000)
            time.sleep(0.5)
            after = emulator.rss_mb()
            per_item = (after - before) * 1024 * 1024 / sent
            report["memory"][kind] = {"items": sent, "rss_before_mb": before, "rss_after_mb": after,
                                      "bytes_per_item": per_item}
            print(f"  {kind}: {sent:,} stored, RSS {before:.1f} → {after:.1f} MB, {per_item:.0f} B per item")
        finally:
            emulator.stop()


def run_startup(args, report: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = [startup.one_run(args.binary, Path(tmp)) for _ in range(args.startup_runs)]
    report["startup"] = {
        "runs": args.startup_runs,
        "exec_to_ready_ms": statistics.median(r[0] * 1000 for r in runs),
        "exec_to_first_200_ms": statistics.median(r[1] * 1000 for r in runs),
        "idle_rss_mb": statistics.median(r[2] / 1024 for r in runs),
    }
    s = report["startup"]
    print(f"startup: ready {s['exec_to_ready_ms']:.1f} ms, first 200 {s['exec_to_first_200_ms']:.1f} ms, "
          f"idle RSS {s['idle_rss_mb']:.1f} MB")


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    return {"cpu": cpu, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_at_start": os.getloadavg()[0]}


def markdown(report: dict) -> str:
    results = [Result(**r) for r in report["results"]]
    base = {r.connections: r for r in results if r.workload == "health (baseline)"}
    m = report["machine"]
    lines = [
        f"Run {m['date']} on {m['cores']} cores ({m['cpu']}), load average at start {m['load_average_at_start']:.2f}.",
        "",
        "| workload | conns | req/s | × baseline | p50 ms | p99 ms | server CPU µs/req | × baseline | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b = base.get(r.connections)
        rps_ratio = f"{r.rps / b.rps:.2f}" if b else "–"
        cpu_ratio = f"{r.cpu_us / b.cpu_us:.2f}" if b and b.cpu_us else "–"
        lines.append(f"| {r.workload} | {r.connections} | {r.rps:,.0f} | {rps_ratio} | {r.p50_ms:.2f} | "
                     f"{r.p99_ms:.2f} | {r.cpu_us:.1f} | {cpu_ratio} | {r.errors} |")
    paging = [r for r in results if r.workload.startswith("chat list messages")]
    if paging:
        lines += ["", "List-messages page latency (p50) relative to the smallest thread, same run:", ""]
        for c in sorted({r.connections for r in paging}):
            rows = [r for r in paging if r.connections == c]
            first = rows[0]
            lines.append(f"- c={c}: " + ", ".join(
                f"{r.workload.rsplit(', ', 1)[1]} {r.p50_ms / first.p50_ms:.2f}×" for r in rows))
    if report["memory"]:
        lines += ["", "| stored | items | RSS before MB | RSS after MB | bytes per item |", "|---|---|---|---|---|"]
        for kind, mem in report["memory"].items():
            lines.append(f"| {kind} | {mem['items']:,} | {mem['rss_before_mb']:.1f} | {mem['rss_after_mb']:.1f} | "
                         f"{mem['bytes_per_item']:.0f} |")
    if report["startup"]:
        s = report["startup"]
        lines += ["", f"Start-up ({s['runs']} runs, medians): exec → ready block {s['exec_to_ready_ms']:.1f} ms, "
                      f"exec → first HTTP 200 {s['exec_to_first_200_ms']:.1f} ms, idle RSS {s['idle_rss_mb']:.1f} MB."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
