#!/usr/bin/env python3
"""User-space instructions per request, counted by valgrind's callgrind: a deterministic figure.

Requests/s and CPU time swing with whatever else runs on the machine; the number of instructions
a server executes for a request does not. Use this to compare two builds (or two commits) on a
busy machine, and the emulator with its anchors (bench/anchors/) for the same requests:

    python3 bench/instructions.py                                  # target/release/acs-emulator
    python3 bench/instructions.py --binary /tmp/other/acs-emulator --requests 300
    python3 bench/instructions.py --levels default --anchors ''    # one emulator, no anchors
    python3 bench/instructions.py --keep /tmp/profiles             # keep the dumps (callgrind_annotate)
    python3 bench/instructions.py --state-dir --levels default --only "identity create + token"
    python3 bench/instructions.py --only "sms send, 1 recipient" --only "chat send message"

Each server (the emulator at each of `--levels`: `default` is as users run it, its log going to a
file; and, unless `--anchors ''`, the `fixed` and `work` anchors of `make bench-anchors`) is
started under `valgrind --tool=callgrind` with one worker. For each workload it serves, it is
warmed up, its counters zeroed (`callgrind_control --zero`), sent `--requests` identical requests
over one keep-alive HTTP/1.1 connection, and its counters dumped; every thread counts (the
emulator's log writer too). The ratio is the emulator's count over its anchor's for the same
request. Needs valgrind (Debian/Ubuntu: `apt-get install valgrind`). Valgrind's CPU has no SHA
extensions, so SHA-256 (content hash, HMAC, token signatures) counts many times what it costs on
real hardware, in the emulator and the `work` anchor alike. Takes a few minutes.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ANCHORED, CAPS, Anchor, Emulator, Request, Server, prepare, workloads  # noqa: E402  (bench/load.py)

REPO = Path(__file__).resolve().parents[1]
LEVELS = {"default": None, "warn": "warn", "error": "error"}


class Callgrind:
    """Where one server's counters go, and how to zero and read them."""

    def __init__(self):
        self.out = tempfile.mkdtemp(prefix="acs-callgrind-")
        self.prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}/callgrind.out.%p"]
        self.last: str | None = None

    def zero(self, pid: int) -> None:
        subprocess.run(["callgrind_control", "--zero", str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def instructions(self, pid: int) -> int:
        """Instructions since the last zeroing (dumps the counters; the dump is `self.last`)."""
        before = set(glob.glob(os.path.join(self.out, "callgrind.out.*")))
        subprocess.run(["callgrind_control", "--dump", str(pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for path in set(glob.glob(os.path.join(self.out, "callgrind.out.*"))) - before:
                text = Path(path).read_text(errors="replace")
                for line in text.splitlines():
                    if line.startswith("totals:") or line.startswith("summary:"):
                        self.last = path
                        return int(line.split()[1])
            time.sleep(0.2)
        raise SystemExit("callgrind wrote no dump")

    def remove(self) -> None:
        shutil.rmtree(self.out, ignore_errors=True)


def send(host: str, request: Request, count: int) -> None:
    conn = http.client.HTTPConnection(host, timeout=60)
    for _ in range(count):
        conn.request(request.method, request.path, body=request.body or None, headers=request.headers)
        res = conn.getresponse()
        res.read()
        if res.status >= 300:
            raise SystemExit(f"{request.method} {request.path}: {res.status}")
    conn.close()


def count(server: Server, callgrind: Callgrind, system: str, requests: list[tuple[str, Request]],
          args) -> dict[str, float]:
    """Instructions per request of each of `requests` on `server` (under `callgrind`)."""
    results = {}
    for name, request in requests:
        send(server.host, request, args.warmup)
        if getattr(server, "state_dir", None):
            time.sleep(2)  # the warm-up's rows committed before the counters are zeroed
        callgrind.zero(server.proc.pid)
        send(server.host, request, args.requests)
        if getattr(server, "state_dir", None):
            time.sleep(2)  # and the measured requests' rows, after the group-commit window
        results[name] = callgrind.instructions(server.proc.pid) / args.requests
        print(f"  {system:<26} {name:<28} {results[name] / 1000:8.1f} k instructions per request", flush=True)
        if args.keep and callgrind.last:
            args.keep.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "-" for c in f"{system} {name}")
            shutil.copy(callgrind.last, args.keep / f"{slug}.out")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=REPO / "target/release/acs-emulator")
    parser.add_argument("--anchors", default=str(REPO / "target/bench-anchors/release"),
                        help="directory of the anchor binaries (make bench-anchors); '' for none")
    parser.add_argument("--levels", default="default,warn",
                        help="the emulator's log levels, of: default (as users run it), warn, error")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per workload")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--only", action="append", default=[],
                        help="a workload name (repeat the flag for more; default: all). Names hold "
                             "commas (\"sms send, 1 recipient\"), so several in one value are "
                             "separated by semicolons")
    parser.add_argument("--keep", type=Path, help="copy each workload's callgrind dump into this directory")
    parser.add_argument("--state-dir", action="store_true",
                        help="run the emulator with --state-dir (a fresh directory): the writer thread's work counts too")
    args = parser.parse_args()
    levels = [level for level in args.levels.split(",") if level]
    for level in levels:
        if level not in LEVELS:
            raise SystemExit(f"--levels: unknown level {level!r}")
    only = {name.strip() for value in args.only for name in value.split(";") if name.strip()}
    known = set(ANCHORED)
    if only - known:
        raise SystemExit(f"--only: unknown workload(s) {sorted(only - known)}; known: {sorted(known)}")

    def wanted(name: str) -> bool:
        return not only or name in only

    emulators: dict[str, dict[str, float]] = {}
    thread = "-"
    for level in levels:
        callgrind = Callgrind()
        state = tempfile.mkdtemp(prefix="acs-state-") if args.state_dir else None
        emulator = Emulator(args.binary, ["--workers", "1", *CAPS, *(["--state-dir", state] if state else [])],
                            prefix=callgrind.prefix,
                            log_level=LEVELS[level])
        emulator.state_dir = state
        try:
            token, encoded, thread = prepare(emulator, ["chat"])
            requests = [(n, r) for n, r in workloads(emulator, token, encoded, thread) if wanted(n)]
            emulators[level] = count(emulator, callgrind, f"emulator ({level} log level)", requests, args)
        finally:
            emulator.stop()
            callgrind.remove()
            if state:
                shutil.rmtree(state, ignore_errors=True)

    anchors: dict[str, dict[str, float]] = {}
    if args.anchors:
        token = ""
        for kind in ["work", "fixed"]:
            callgrind = Callgrind()
            anchor = Anchor(Path(args.anchors) / kind, workers=1, prefix=callgrind.prefix)
            try:
                if kind == "work":
                    _, token = anchor.create_user(["chat"])
                requests = [(n, r) for n, r in workloads(anchor, token, "-", thread)
                            if wanted(n) and ANCHORED.get(n, (None, None))[0] == kind]
                anchors[kind] = count(anchor, callgrind, f"anchor {kind}", requests, args)
            finally:
                anchor.stop()
                callgrind.remove()

    names = list(next(iter(emulators.values()), {}))
    head = [f"emulator, {level} level" for level in levels]
    print("\n| workload | " + " | ".join(head) + " | anchor | "
          + " | ".join(f"× anchor ({level})" for level in levels) + " |")
    print("|---|" + "---|" * (2 * len(levels) + 1))
    for name in names:
        kind = ANCHORED.get(name, (None, None))[0]
        base = anchors.get(kind or "", {}).get(name)
        cells = [f"{emulators[level][name] / 1000:.1f} k" for level in levels]
        anchor_cell = f"{kind} {base / 1000:.1f} k" if base else "–"
        ratios = [f"{emulators[level][name] / base:.2f}" if base else "–" for level in levels]
        print(f"| {name} | " + " | ".join(cells) + f" | {anchor_cell} | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
