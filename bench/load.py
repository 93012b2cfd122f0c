#!/usr/bin/env python3
"""Load benchmark of the acs-emulator release binary on 127.0.0.1, side by side with its anchors.

Every workload sends real, valid requests (HMAC-signed Identity and SMS calls, Chat calls with a
user access token) and its server CPU per request is reported as a ratio to an *anchor* measured
in the same run: a tiny actix-web server (bench/anchors/) serving the same route with the same
request, either with a fixed answer (`fixed`: the floor of actix-web and TCP on loopback) or
doing only the work an emulator cannot skip (`work`: signature or token check, JSON, an id, a
token, a map insert). The emulator runs twice, as users run it (default log level) and with
`--log-level warn`. All four servers run at once; for each workload they are loaded one after
the other, a round at a time, so that each emulator figure has an anchor figure taken seconds
before or after it. Absolute numbers move with the machine; the ratios are what to compare.

    make bench                      # builds the emulator and the anchors, then runs this
    python3 bench/load.py --rounds 3 --duration 3 --json results.json
    python3 bench/load.py --anchors ''    # without anchors (no ratios)

Then: page latency of list-messages in threads of 10 to 1,000,000 messages, memory per
stored identity and chat message, and start-up. Server CPU per request comes from each process's
own accounting (/proc/<pid>/stat utime+stime) over each wrk run. wrk (Debian package `wrk`)
runs on the same cores, so requests/s are lower bounds. Every run is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import selectors
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
# The emulator and the `work` anchor are both started with this key.
ACCESS_KEY = "mTisQgAEcpR1A3Gl/8Jun7D9tBErXplwaHvlwXR+9tclRej7ardRSiLRlN41Uwrpg6l8KGoxMu9akJuvzwcMeg=="
SENDER = "+18005550100"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The store caps (README "Limits") refuse more than 100,000 messages per thread and 1,000,000
# messages or identities in all: the workloads here store more (a 1,000,000-message thread, a chat
# send run of several seconds into one thread, a million identities for the memory figures).
CAPS = ["--max-chat-messages-per-thread", "100000000", "--max-chat-messages", "100000000",
        "--max-identities", "100000000"]

# Each workload's anchor and target (issue 17): its server CPU per request, at the default log
# level, at most `target` times the anchor's. A workload without an anchor is measured on the
# emulator only; one without a target is reported for information.
ANCHORED: dict[str, tuple[str | None, float | None]] = {
    "health (baseline)": ("fixed", 1.25),
    "identity create + token": ("work", 1.25),
    "identity issueAccessToken": (None, None),
    "sms send, 1 recipient": ("work", 1.25),
    "sms send, 10 recipients": ("work", None),
    "chat send message": ("work", 1.25),
    "email send, 1 recipient": ("work", 1.25),
}
# Workloads whose targets are not measured yet, listed in the targets table as such.
PENDING: list[str] = []
# The emulator's default Azure-managed sender (its resource id is the default).
EMAIL_SENDER = "DoNotReply@acacacac-0000-4000-8000-000000000001.azurecomm.net"
TARGET_P99_MS = 5.0        # at 32 connections, default log level
TARGET_LOG_US = 1.0        # CPU per request the default log level may add over warn
P99_CONNECTIONS = 32
DEFAULT, WARN = "default log level", "--log-level warn"


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
    system: str = "emulator"
    round: int = 0


def read_stdout_until(proc: subprocess.Popen, done, timeout: float) -> list[str]:
    """Lines of `proc`'s stdout (an unbuffered binary pipe) up to the first one `done` accepts;
    gives up after `timeout` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    lines: list[str] = []
    pending = b""
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                lines.append(raw.decode(errors="replace"))
                if done(lines[-1]):
                    return lines
    finally:
        selector.close()
    proc.kill()
    proc.wait(timeout=10)
    printed = "\n".join(lines) + pending.decode(errors="replace")
    raise SystemExit(f"{proc.args[0]} did not start in {timeout:g} s; it printed:\n{printed}")


class Server:
    """A server process on 127.0.0.1 and the client side of it: signed requests, CPU, memory."""

    proc: subprocess.Popen
    http: str
    host: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

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


class Emulator(Server):
    """The release binary on free ports, and a few helpers to prepare state over HTTP."""

    def __init__(self, binary: Path, extra: list[str], prefix: list[str] | None = None,
                 log_level: str | None = "error", workers: int | None = None):
        """`prefix`: a command the binary runs under (valgrind, in bench/instructions.py).
        `log_level`: None starts the emulator with its default level, as users run it; its log
        (stderr) then goes to a file, as it would to a CI log, and `log_bytes` reads its size."""
        self.dir = tempfile.mkdtemp(prefix="acs-bench-")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log = open(self.log_path, "wb")
        level = ["--log-level", log_level] if log_level else []
        self.proc = subprocess.Popen(
            [*(prefix or []), str(binary), "--port", "0", "--http-port", "0", *level,
             "--access-key", ACCESS_KEY, "--tls-cert-out", os.path.join(self.dir, "cert.pem"),
             *(["--workers", str(workers)] if workers else []), *extra],
            stdout=subprocess.PIPE, stderr=self.log, bufsize=0,
        )
        self.http = ""
        for line in read_stdout_until(self.proc, lambda line: "Stop with" in line, 120):
            if line.strip().startswith("HTTP endpoint"):
                self.http = line.split()[-1].rstrip("/")
        if not self.http:
            raise SystemExit("the emulator printed no HTTP endpoint")
        self.host = self.http.removeprefix("http://")

    def log_bytes(self) -> int:
        return os.path.getsize(self.log_path)

    def log_since(self, offset: int) -> dict:
        """Bytes and lines the log has grown by since `offset` (a `log_bytes()`)."""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            lines = bytes_ = 0
            while chunk := log.read(1 << 20):
                lines += chunk.count(b"\n")
                bytes_ += len(chunk)
        return {"bytes": bytes_, "lines": lines}

    def stop(self) -> None:
        super().stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Anchor(Server):
    """One of the anchor binaries of bench/anchors (`fixed` or `work`) on a free port."""

    def __init__(self, binary: Path, workers: int | None = None, prefix: list[str] | None = None):
        """`prefix`: a command the binary runs under (valgrind, in bench/instructions.py)."""
        env = dict(os.environ, PORT="0", ACS_ACCESS_KEY=ACCESS_KEY)
        if workers:
            env["WORKERS"] = str(workers)
        self.proc = subprocess.Popen([*(prefix or []), str(binary)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=0, env=env)
        line = read_stdout_until(self.proc, lambda line: line.startswith("listening on "), 120)[-1]
        self.http = line.split()[-1].rstrip("/")
        self.host = self.http.removeprefix("http://")


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


def settle(server: Server, windows: int = 3, window: float = 0.5, limit: float = 10.0) -> None:
    """Waits after a run until the emulator has been idle for `windows` windows of `window`
    seconds in a row (at most one clock tick of CPU in each: an idle emulator's timers use about
    that), giving up after `limit` seconds. Work a run leaves behind is then charged to that run
    rather than to whatever runs next: an email send's operation completes, and its delivery
    reports are published, a second after the send (about 150,000 of them after a run)."""
    deadline = time.monotonic() + limit
    quiet = 0
    last = server.cpu_seconds()
    while quiet < windows and time.monotonic() < deadline:
        time.sleep(window)
        now = server.cpu_seconds()
        quiet = quiet + 1 if now - last <= 1.5 / CLOCK_TICKS else 0
        last = now


def run_wrk(server: Server, script: str, connections: int, duration: float, threads: int) -> tuple[int, float, float, float, int, float]:
    """One wrk run; the CPU the server used for it, including (for an emulator) the work the
    run left behind, until it settled (`settle`)."""
    cpu_before = server.cpu_seconds()
    seconds = max(1, round(duration))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
         "-s", script, server.http],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    if isinstance(server, Emulator):
        settle(server)
    cpu = server.cpu_seconds() - cpu_before
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


def measure_once(server: Server, system: str, name: str, script: str, c: int, duration: float,
                 threads: int, round_: int) -> Result:
    requests, rps, p50, p99, errors, cpu = run_wrk(server, script, c, duration, threads)
    result = Result(name, c, requests, rps, p50, p99, cpu * 1e6 / max(requests, 1), errors, system, round_)
    print(f"  {system:<18} {name:<28} c={c:<4} {rps:>9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
          f"{result.cpu_us:6.1f} µs CPU/req  errors {errors}", flush=True)
    return result


def measure(server: Server, name: str, request: Request, conns: list[int], duration: float,
            threads: int, workdir: str, warmup: float, system: str = "emulator") -> list[Result]:
    """One warm-up, then one run per connection count."""
    script = lua_script(request, workdir, re.sub(r"\W+", "_", f"{system}_{name}"))
    run_wrk(server, script, conns[0], warmup, threads)  # warm-up, not recorded
    return [measure_once(server, system, name, script, c, duration, threads, 0) for c in conns]


def fill(server: Server, request: Request, count: int, workdir: str, threads: int, rate_hint: float,
         deadline: float) -> int:
    """Sends about `count` copies of `request` (to store items), stopping at `deadline`
    (time.monotonic()); returns how many were sent."""
    script = lua_script(request, workdir, "fill")
    sent = 0
    while sent < count and time.monotonic() < deadline:
        # Runs of at most 15 s, so that the next one is sized from the rate just seen.
        seconds = max(1.0, min(15.0, deadline - time.monotonic(), (count - sent) / max(rate_hint, 1000.0) * 1.02))
        requests, rps, _, _, errors, _ = run_wrk(server, script, 64, round(seconds), threads)
        if errors:
            raise SystemExit(f"fill: {errors} errors")
        sent += requests
        rate_hint = rps
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "acs-emulator")
    parser.add_argument("--anchors", default=str(REPO / "target" / "bench-anchors" / "release"),
                        help="directory of the anchor binaries (make bench-anchors); '' to run without")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the side-by-side runs (medians)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per workload and server")
    parser.add_argument("--connections", default="32", help="e.g. 32,256 (the targets are at 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the cores)")
    parser.add_argument("--workers", type=int, help="worker threads of every server (default: theirs, one per core)")
    parser.add_argument("--memory-items", type=int, default=1_000_000,
                        help="identities and chat messages stored for the memory figures (0: skip)")
    parser.add_argument("--paging-sizes", default="10,100000,1000000",
                        help="thread sizes for the list-messages workloads ('' to skip)")
    parser.add_argument("--fill-limit", type=float, default=120.0,
                        help="seconds at most to fill one thread or store (the figures then use what was stored)")
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if not args.binary.is_file():
        raise SystemExit(f"{args.binary} not found: run `cargo build --release` first")
    if args.anchors:
        for name in ["fixed", "work"]:
            if not (Path(args.anchors) / name).is_file():
                raise SystemExit(f"{Path(args.anchors) / name} not found: run `make bench-anchors` "
                                 "(or pass --anchors '' to measure without them)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk (Debian/Ubuntu)")
    conns = [int(c) for c in args.connections.split(",")]
    workdir = tempfile.mkdtemp(prefix="acs-bench-lua-")
    started = time.monotonic()
    report: dict = {"machine": machine(), "settings": {
        "rounds": args.rounds, "duration_s": args.duration, "connections": conns, "threads": args.threads,
        "anchors": bool(args.anchors)}, "results": [], "default_log": [], "paging": [], "memory": {}, "startup": {}}
    try:
        run_side_by_side(args, conns, workdir, report)
        run_paging(args, conns, workdir, report)
        run_memory(args, workdir, report)
        run_startup(args, report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["machine"]["load_average_at_end"] = os.getloadavg()[0]
    report["machine"]["minutes"] = (time.monotonic() - started) / 60
    print()
    print(markdown(report))
    if args.json:
        report["summary"] = [{"workload": name, "connections": c, "system": system,
                              **{k: v for k, v in s.items() if k != "rounds"}}
                             for (name, c, system), s in summarize(report).items()]
        args.json.write_text(json.dumps(report, indent=2))


def run_side_by_side(args, conns: list[int], workdir: str, report: dict) -> None:
    print(f"side by side: {args.rounds} round(s) of {args.duration:g} s per run, connections {conns}, "
          f"wrk threads {args.threads}")
    servers: dict[str, Server] = {}
    requests: dict[str, dict[str, Request]] = {}
    scripts: dict[tuple[str, str], str] = {}
    thread = ""

    def check_and_script(systems: list[str]) -> None:
        """Every request of `systems` answers 2xx before any load; writes their wrk scripts."""
        for system in systems:
            for name, request in requests[system].items():
                anchor = ANCHORED.get(name, (None, None))[0]
                if system.startswith("anchor") and system != f"anchor {anchor}":
                    continue
                status, body, _ = servers[system].call(request)
                if status >= 300:
                    raise SystemExit(f"{system}: {name} answered {status} {body}")
                scripts[(system, name)] = lua_script(request, workdir, re.sub(r"\W+", "_", f"{system}_{name}"))

    def start_anchors() -> None:
        """Fresh anchors (their maps keep every record; a fresh start keeps them a round's size)
        and their requests: the emulator's, signed for their Host, with a token the `work`
        anchor issued and the emulator's thread id."""
        for kind in ["fixed", "work"]:
            if f"anchor {kind}" in servers:
                servers.pop(f"anchor {kind}").stop()
            servers[f"anchor {kind}"] = Anchor(Path(args.anchors) / kind, args.workers)
        _, token = servers["anchor work"].create_user(["chat", "voip"])
        for kind in ["fixed", "work"]:
            requests[f"anchor {kind}"] = dict(workloads(servers[f"anchor {kind}"], token, "-", thread))
        check_and_script(["anchor fixed", "anchor work"])

    results: list[Result] = []
    logged: list[dict] = []
    try:
        servers[DEFAULT] = Emulator(args.binary, CAPS, log_level=None, workers=args.workers)
        servers[WARN] = Emulator(args.binary, CAPS, log_level="warn", workers=args.workers)
        # Each emulator gets its own user, token and thread; every server gets the same requests,
        # but for the Host they are signed for and the token (issued by the server they go to).
        for system in [DEFAULT, WARN]:
            token, user, thread = prepare(servers[system], ["chat", "voip"])
            requests[system] = dict(workloads(servers[system], token, user, thread))
        check_and_script([DEFAULT, WARN])
        default = servers[DEFAULT]
        assert isinstance(default, Emulator)
        names = list(requests[DEFAULT])
        for round_ in range(args.rounds):
            if args.anchors:
                start_anchors()
            for name in names:
                anchor = ANCHORED.get(name, (None, None))[0]
                systems = [DEFAULT, WARN] + ([f"anchor {anchor}"] if anchor and args.anchors else [])
                shift = round_ % len(systems)  # who goes first rotates from round to round
                for system in systems[shift:] + systems[:shift]:
                    script = scripts[(system, name)]
                    if round_ == 0 or system.startswith("anchor"):  # warm-up: new process or workload
                        run_wrk(servers[system], script, conns[0], args.warmup, args.threads)
                    for c in conns:
                        if system == DEFAULT:  # lines of the warm-up or the last run still buffered
                            time.sleep(0.1)
                        log_before = default.log_bytes()
                        results.append(measure_once(servers[system], system, name, script, c, args.duration,
                                                    args.threads, round_))
                        if system == DEFAULT:  # what the default level wrote (after the writer's 50 ms)
                            time.sleep(0.1)
                            logged.append({"workload": name, "connections": c, "requests": results[-1].requests,
                                           **default.log_since(log_before)})
    finally:
        for server in servers.values():
            server.stop()
    report["results"] = [r.__dict__ for r in results]
    report["default_log"] = logged


def run_paging(args, conns: list[int], workdir: str, report: dict) -> None:
    """The first page of 20 in threads of growing size. Every thread is filled before any is
    measured, so that all are measured in the same process state (a heap grown by a million
    messages makes every request a little slower, whatever thread it reads)."""
    sizes = [int(s) for s in args.paging_sizes.split(",") if s]
    if not sizes:
        return
    print(f"paging: first page of 20 in threads of {', '.join(f'{s:,}' for s in sizes)} messages")
    emulator = Emulator(args.binary, CAPS, log_level="warn", workers=args.workers)
    results: list[Result] = []
    try:
        token, _, _ = prepare(emulator, ["chat", "voip"])
        listings = []
        for size in sizes:
            status, thread, _ = emulator.call(emulator.bearer(
                "POST", "/chat/threads?api-version=2024-03-07", token, json.dumps({"topic": f"{size}"}).encode()))
            assert status == 201, (status, thread)
            tid = thread["chatThread"]["id"].replace(":", "%3A").replace("@", "%40")
            send = emulator.bearer("POST", f"/chat/threads/{tid}/messages?api-version=2024-03-07", token,
                                   b'{"content":"m"}')
            have = 2  # the participantAdded and topicUpdated system messages
            if size > have:
                have += fill(emulator, send, size - have, workdir, args.threads, 30000,
                             time.monotonic() + args.fill_limit)
            listing = emulator.bearer("GET", f"/chat/threads/{tid}/messages?maxPageSize=20&api-version=2024-03-07", token)
            status, page, _ = emulator.call(listing)
            assert status == 200 and len(page["value"]) == 20 or size < 20, (status, len(page.get("value", [])))
            label = f"{size:,}-message thread" if have >= size else f"{have:,}-message thread (fill stopped at --fill-limit)"
            listings.append((label, listing))
        scripts = [(f"chat list messages, page of 20, {label}", lua_script(listing, workdir, f"list{n}"))
                   for n, (label, listing) in enumerate(listings)]
        for name, script in scripts:
            run_wrk(emulator, script, conns[0], args.warmup, args.threads)
        for round_ in range(args.rounds):
            shift = round_ % len(scripts)  # which thread is read first rotates from round to round
            for name, script in scripts[shift:] + scripts[:shift]:
                for c in conns:
                    results.append(measure_once(emulator, "paging", name, script, c, args.duration,
                                                args.threads, round_))
    finally:
        emulator.stop()
    report["paging"] = [r.__dict__ for r in results]


def prepare(emulator: Server, scopes: list[str]) -> tuple[str, str, str]:
    """A user with a token for `scopes` and a thread of theirs: (token, percent-encoded user id,
    percent-encoded thread id), as `workloads` takes them."""
    user, token = emulator.create_user(scopes)
    status, thread, _ = emulator.call(emulator.bearer(
        "POST", "/chat/threads?api-version=2024-03-07", token, json.dumps({"topic": "bench"}).encode()))
    assert status == 201, (status, thread)
    thread_id = thread["chatThread"]["id"].replace(":", "%3A").replace("@", "%40")
    return token, user.replace(":", "%3A"), thread_id


def workloads(server: Server, token: str, user: str, thread: str) -> list[tuple[str, Request]]:
    """The write workloads and the baseline, for `token` of `user` (percent-encoded) in `thread`.
    Their names are the keys of ANCHORED."""
    recipients10 = [{"to": f"+1425555{n:04d}"} for n in range(10)]
    return [
        ("health (baseline)", Request("GET", "/_emulator/health")),
        ("identity create + token", server.signed(
            "POST", "/identities?api-version=2023-10-01", b'{"createTokenWithScopes":["chat"]}')),
        ("identity issueAccessToken", server.signed(
            "POST", f"/identities/{user}/:issueAccessToken?api-version=2023-10-01", b'{"scopes":["chat"]}')),
        ("sms send, 1 recipient", server.signed("POST", "/sms?api-version=2021-03-07", json.dumps(
            {"from": SENDER, "smsRecipients": [{"to": "+14255550123"}], "message": "bench",
             "smsSendOptions": {"enableDeliveryReport": False}}).encode())),
        ("sms send, 10 recipients", server.signed("POST", "/sms?api-version=2021-03-07", json.dumps(
            {"from": SENDER, "smsRecipients": recipients10, "message": "bench",
             "smsSendOptions": {"enableDeliveryReport": False}}).encode())),
        ("email send, 1 recipient", server.signed("POST", "/emails:send?api-version=2025-09-01", json.dumps(
            {"senderAddress": EMAIL_SENDER, "recipients": {"to": [{"address": "alice@example.com"}]},
             "content": {"subject": "bench", "plainText": "hello from the benchmark"}}).encode())),
        ("chat send message", server.bearer(
            "POST", f"/chat/threads/{thread}/messages?api-version=2024-03-07", token,
            b'{"content":"hello from the benchmark","senderDisplayName":"Bench"}')),
    ]


def run_memory(args, workdir: str, report: dict) -> None:
    if args.memory_items <= 0:
        return
    print(f"memory: RSS growth for {args.memory_items:,} identities and {args.memory_items:,} chat messages")
    for kind in ["identities", "chat messages"]:
        emulator = Emulator(args.binary, CAPS, workers=args.workers)
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
            sent = fill(emulator, request, args.memory_items, workdir, args.threads, 30000,
                        time.monotonic() + args.fill_limit)
            time.sleep(0.5)
            after = emulator.rss_mb()
            per_item = (after - before) * 1024 * 1024 / max(sent, 1)
            report["memory"][kind] = {"items": sent, "rss_before_mb": before, "rss_after_mb": after,
                                      "bytes_per_item": per_item}
            print(f"  {kind}: {sent:,} stored, RSS {before:.1f} → {after:.1f} MB, {per_item:.0f} B per item")
        finally:
            emulator.stop()


def run_startup(args, report: dict) -> None:
    if args.startup_runs <= 0:
        return
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
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": commit or "unknown", "load_average_at_start": os.getloadavg()[0]}


def summarize(report: dict) -> dict:
    """Per (workload, connections, system): medians over the rounds, and the paired figures: the
    ratio to the anchor and the log level's cost, each taken within a round and then the median."""
    results = [Result(**r) for r in report["results"]]
    by: dict[tuple[str, int, str], dict[int, Result]] = {}
    for r in results:
        by.setdefault((r.workload, r.connections, r.system), {})[r.round] = r
    summary: dict = {}
    for (name, c, system), rounds in by.items():
        rs = list(rounds.values())
        summary[(name, c, system)] = {
            "rps": statistics.median(r.rps for r in rs), "p50_ms": statistics.median(r.p50_ms for r in rs),
            "p99_ms": statistics.median(r.p99_ms for r in rs), "cpu_us": statistics.median(r.cpu_us for r in rs),
            "errors": sum(r.errors for r in rs), "rounds": rounds}
    for (name, c, system), s in summary.items():
        if system not in (DEFAULT, WARN):
            continue
        anchor = ANCHORED.get(name, (None, None))[0]
        a = summary.get((name, c, f"anchor {anchor}"))
        if a:
            pairs = [r.cpu_us / a["rounds"][k].cpu_us for k, r in s["rounds"].items()
                     if k in a["rounds"] and a["rounds"][k].cpu_us]
            s["anchor"], s["anchor_cpu_us"] = anchor, a["cpu_us"]
            s["ratio"] = statistics.median(pairs) if pairs else None
        if system == DEFAULT and (name, c, WARN) in summary:
            warn = summary[(name, c, WARN)]["rounds"]
            s["log_cost_us"] = statistics.median(
                r.cpu_us - warn[k].cpu_us for k, r in s["rounds"].items() if k in warn)
    return summary


def markdown(report: dict) -> str:
    m = report["machine"]
    st = report["settings"]
    summary = summarize(report)
    names = list(dict.fromkeys(r["workload"] for r in report["results"]))
    conns = st["connections"]
    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    lines = [
        f"Commit `{m['commit']}`, run {m['date']} on {m['cores']} cores ({m['cpu']}), load average "
        f"{m['load_average_at_start']:.2f} at the start and {m.get('load_average_at_end', 0):.2f} at the end; "
        f"{m.get('minutes', 0):.1f} minutes in all. `wrk -t{st['threads']} -c{{{','.join(map(str, conns))}}} "
        f"-d{st['duration_s']:g}s`, {st['rounds']} round{'s' if st['rounds'] != 1 else ''}; medians over the rounds.",
    ]
    for system in [DEFAULT, WARN]:
        title = ("Default log level (as users run it)" if system == DEFAULT
                 else "`--log-level warn` (the targets apply to the default level; for comparison)")
        lines += ["", f"{title}:", "",
                  "| workload | conns | req/s | p50 ms | p99 ms | CPU µs/req | anchor | anchor CPU µs/req | ratio | target | met? | non-2xx |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name in names:
            target = ANCHORED.get(name, (None, None))[1]
            for c in conns:
                s = summary.get((name, c, system))
                if not s:
                    continue
                ratio = s.get("ratio")
                anchor_cols = f"{s['anchor']} | {s['anchor_cpu_us']:.1f}" if "anchor" in s else "– | –"
                ratio_col = f"{ratio:.2f}×" if ratio else "–"
                target_col = f"≤ {target:g}×" if target else "–"
                met_col = yes(ratio <= target) if target and ratio else "–"
                lines.append(f"| {name} | {c} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                             f"{s['cpu_us']:.1f} | {anchor_cols} | {ratio_col} | {target_col} | {met_col} | "
                             f"{s['errors']} |")
        for name in PENDING:
            lines.append(f"| {name} | | not served yet | | | | work | | | ≤ 1.25× | – | |")

    anchors = [(k, s) for k, s in summary.items() if k[2].startswith("anchor")]
    if anchors:
        lines += ["", "The anchors, same run:", "", "| anchor | workload | conns | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx |",
                  "|---|---|---|---|---|---|---|---|"]
        for (name, c, system), s in sorted(anchors, key=lambda kv: (kv[0][2], names.index(kv[0][0]), kv[0][1])):
            lines.append(f"| {system.removeprefix('anchor ')} | {name} | {c} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | "
                         f"{s['p99_ms']:.2f} | {s['cpu_us']:.1f} | {s['errors']} |")

    costs = [(name, c, summary[(name, c, DEFAULT)]) for name in names for c in conns
             if "log_cost_us" in summary.get((name, c, DEFAULT), {})]
    if costs:
        logged: dict[tuple[str, int], list[dict]] = {}
        for entry in report.get("default_log", []):
            logged.setdefault((entry["workload"], entry["connections"]), []).append(entry)
        lines += ["", "What the default log level costs (CPU µs/req at the default level minus at warn, "
                      "paired per round; what it wrote to stderr, here a file):", "",
                  "| workload | conns | default | warn | difference | target | met? | log lines/req | log bytes/req |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, c, s in costs:
            w = summary[(name, c, WARN)]
            runs = logged.get((name, c), [])
            requests = sum(e["requests"] for e in runs) or 1
            log_cols = (f"{sum(e['lines'] for e in runs) / requests:.2f} | {sum(e['bytes'] for e in runs) / requests:.0f}"
                        if runs else "– | –")
            lines.append(f"| {name} | {c} | {s['cpu_us']:.1f} | {w['cpu_us']:.1f} | {s['log_cost_us']:+.1f} | "
                         f"≤ {TARGET_LOG_US:g} µs | {yes(s['log_cost_us'] <= TARGET_LOG_US)} | {log_cols} |")

    lines += ["", *targets(summary, names, report)]

    paging = [Result(**r) for r in report["paging"]]
    if paging:
        groups: dict[tuple[str, int], list[Result]] = {}
        for r in paging:
            groups.setdefault((r.workload, r.connections), []).append(r)
        rows = {key: {k: statistics.median(getattr(r, k) for r in rs) for k in ["rps", "p50_ms", "p99_ms", "cpu_us"]}
                | {"errors": sum(r.errors for r in rs)} for key, rs in groups.items()}
        lines += ["", "List messages (`--log-level warn`, one emulator, after every thread was filled; "
                      "medians over the rounds):", "",
                  "| workload | conns | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx |", "|---|---|---|---|---|---|---|"]
        for (name, c), row in sorted(rows.items(), key=lambda kv: kv[0][1]):
            lines.append(f"| {name} | {c} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                         f"{row['cpu_us']:.1f} | {row['errors']} |")
        lines += ["", "Page latency (p50) relative to the smallest thread, same run:", ""]
        for c in sorted({c for _, c in rows}):
            same = [(name, row) for (name, conns_), row in rows.items() if conns_ == c]
            lines.append(f"- c={c}: " + ", ".join(
                f"{name.split(', ', 2)[2]} {row['p50_ms'] / same[0][1]['p50_ms']:.2f}×" for name, row in same))
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


def targets(summary: dict, names: list[str], report: dict) -> list[str]:
    """Issue 17's targets, one line each, from this run."""
    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    lines = ["| target (default log level) | this run | met? |", "|---|---|---|"]
    for name in names:
        anchor, target = ANCHORED.get(name, (None, None))
        s = summary.get((name, P99_CONNECTIONS, DEFAULT))
        if target and s:
            ratio = s.get("ratio")
            lines.append(f"| {name}: CPU/request ≤ {target:g}× the `{anchor}` anchor | "
                         + (f"{ratio:.2f}× ({s['cpu_us']:.1f} vs {s['anchor_cpu_us']:.1f} µs) | {yes(ratio <= target)} |"
                            if ratio else "no anchor measured | – |"))
    for name in PENDING:
        lines.append(f"| {name}: CPU/request ≤ 1.25× the `work` anchor | not measured: not served yet | – |")
    hot = [(name, summary[(name, P99_CONNECTIONS, DEFAULT)]) for name in names
           if ANCHORED.get(name, (None, None))[1] and (name, P99_CONNECTIONS, DEFAULT) in summary]
    if hot:
        worst = max(hot, key=lambda kv: kv[1]["p99_ms"])
        lines.append(f"| p99 ≤ {TARGET_P99_MS:g} ms at {P99_CONNECTIONS} connections (the workloads above) | "
                     f"highest {worst[1]['p99_ms']:.2f} ms ({worst[0]}) | {yes(worst[1]['p99_ms'] <= TARGET_P99_MS)} |")
    errors = sum(r["errors"] for r in report["results"] if not r["system"].startswith("anchor"))
    errors += sum(r["errors"] for r in report["paging"])
    lines.append(f"| no non-2xx (or socket errors) under load, any workload, either level | {errors} | {yes(errors == 0)} |")
    costs = [(name, summary[(name, P99_CONNECTIONS, DEFAULT)]["log_cost_us"]) for name in names
             if "log_cost_us" in summary.get((name, P99_CONNECTIONS, DEFAULT), {})]
    if costs:
        worst = max(costs, key=lambda kv: kv[1])
        lines.append(f"| the default log level adds ≤ {TARGET_LOG_US:g} µs CPU/request over warn | "
                     f"highest {worst[1]:+.1f} µs ({worst[0]}) | {yes(worst[1] <= TARGET_LOG_US)} |")
    return lines


if __name__ == "__main__":
    main()
