#!/usr/bin/env python3
"""User-space instructions per request, counted by valgrind's callgrind: a deterministic figure.

Requests/s and CPU time swing with whatever else runs on the machine; the number of instructions
the emulator executes for a request does not. Use this to compare two builds (or two commits)
on a busy machine:

    python3 bench/instructions.py                                  # target/release/acs-emulator
    python3 bench/instructions.py --binary /tmp/other/acs-emulator --requests 300
    python3 bench/instructions.py --state-dir --only "identity create,sms send, 1,chat send"

For each workload the release binary is started under `valgrind --tool=callgrind` with one
worker, warmed up, its counters zeroed (`callgrind_control --zero`), then sent `--requests`
identical requests over one keep-alive HTTP/1.1 connection, and its counters dumped. Needs
valgrind (Debian/Ubuntu: `apt-get install valgrind`). Valgrind's CPU has no SHA extensions, so
SHA-256 (content hash, HMAC, token signatures) counts many times what it costs on real hardware;
it costs the same in both builds of a comparison. Takes about a minute per workload.
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
from load import CAPS, Emulator, Request, prepare, workloads  # noqa: E402  (bench/load.py)

REPO = Path(__file__).resolve().parents[1]


class Valgrinded(Emulator):
    """The emulator under callgrind, one worker, counters written to `self.out`."""

    def __init__(self, binary: Path, extra: list[str] | None = None):
        self.out = tempfile.mkdtemp(prefix="acs-callgrind-")
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}/callgrind.out.%p"]
        super().__init__(binary, ["--workers", "1", *CAPS, *(extra or [])], prefix=valgrind)

    def instructions(self) -> int:
        """Instructions since the last zeroing (dumps the counters)."""
        before = set(glob.glob(os.path.join(self.out, "callgrind.out.*")))
        subprocess.run(["callgrind_control", "--dump", str(self.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = set(glob.glob(os.path.join(self.out, "callgrind.out.*"))) - before
            for path in new:
                text = Path(path).read_text(errors="replace")
                for line in text.splitlines():
                    if line.startswith("totals:") or line.startswith("summary:"):
                        return int(line.split()[1])
            time.sleep(0.2)
        raise SystemExit("callgrind wrote no dump")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.out, ignore_errors=True)

    def zero(self) -> None:
        subprocess.run(["callgrind_control", "--zero", str(self.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def send(host: str, request: Request, count: int) -> None:
    conn = http.client.HTTPConnection(host, timeout=60)
    for _ in range(count):
        conn.request(request.method, request.path, body=request.body or None, headers=request.headers)
        res = conn.getresponse()
        res.read()
        if res.status >= 300:
            raise SystemExit(f"{request.method} {request.path}: {res.status}")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=REPO / "target/release/acs-emulator")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per workload")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--state-dir", action="store_true",
                        help="run with --state-dir (a fresh directory): the writer thread's work counts too")
    parser.add_argument("--only", default="", help="comma-separated prefixes of the workloads to run")
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="acs-state-") if args.state_dir else None
    emulator = Valgrinded(args.binary, ["--state-dir", state] if state else [])
    only = [p for p in args.only.split(",") if p]
    results = []
    try:
        token, encoded, thread_id = prepare(emulator, ["chat"])
        for name, request in workloads(emulator, token, encoded, thread_id):
            if only and not name.startswith("health") and not any(name.startswith(p) for p in only):
                continue
            send(emulator.host, request, args.warmup)
            if state:
                time.sleep(2)  # the warm-up's rows committed before the counters are zeroed
            emulator.zero()
            send(emulator.host, request, args.requests)
            if state:
                time.sleep(2)  # and the measured requests' rows, after the group-commit window
            per_request = emulator.instructions() / args.requests
            results.append((name, per_request))
            print(f"{name:28} {per_request / 1000:8.1f} k instructions per request", flush=True)
    finally:
        emulator.stop()
        if state:
            shutil.rmtree(state, ignore_errors=True)
    base = results[0][1]
    print("\n| workload | k instructions per request | × baseline |\n|---|---|---|")
    for name, per_request in results:
        print(f"| {name} | {per_request / 1000:.1f} | {per_request / base:.2f} |")


if __name__ == "__main__":
    main()
