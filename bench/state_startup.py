#!/usr/bin/env python3
"""Start-up time with a large `--state-dir`: how long the emulator takes to print its ready
banner when DIR holds MESSAGES chat messages (in THREADS threads), against an empty DIR.

    python3 bench/state_startup.py [--bin target/release/acs-emulator] [--messages 1000000]
                                   [--threads 1000] [--runs 3]

The rows are written straight into DIR/state.db in the emulator's own format (one user, its
threads, their messages), after one start of the emulator has created the schema. Every start is
bounded by a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCE_ID = "b1b3a7c2-8e6a-4f2b-9c51-0d3e2f1a4b5c"  # any uuid: rows name the resource by name


def start(binary: str, state: str, timeout: float) -> tuple[float, subprocess.Popen]:
    began = time.monotonic()
    proc = subprocess.Popen(
        [binary, "--port", "0", "--http-port", "0", "--log-level", "warn", "--state-dir", state],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "is ready" in line:
            return time.monotonic() - began, proc
        if time.monotonic() - began > timeout:
            break
    proc.kill()
    raise SystemExit(f"the emulator did not become ready within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def fill(db: Path, messages: int, threads: int) -> None:
    user = f"8:acs:{RESOURCE_ID}_{uuid.uuid4()}"
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO identities VALUES ('default', ?, '2026-01-01T00:00:00.000000000Z', NULL, 2, 0)",
        (user,),
    )
    participants = json.dumps([{"id": user, "display_name": "Bench", "share_history_time": None, "metadata": None}])
    per_thread = max(1, messages // threads)
    next_id = 1_767_225_600_000  # 2026-01-01 in ms: message ids are ms timestamps, growing
    for t in range(threads):
        thread = f"19:acsemu_{uuid.uuid4().hex}@thread.v2"
        props = json.dumps({
            "topic": f"bench {t}", "created_on": "2026-01-01T00:00:00.000000000Z",
            "created_by": user, "deleted_on": None, "metadata": None, "retention_days": None,
        })
        conn.execute("INSERT INTO chat_threads VALUES ('default', ?, ?, ?)", (thread, props, participants))
        rows = []
        for seq in range(1, per_thread + 1):
            next_id += 1
            rows.append(("default", thread, seq, json.dumps({
                "id": next_id, "version": next_id, "kind": "text",
                "created_on": "2026-01-01T00:00:00.000000000Z", "edited_on": None, "deleted_on": None,
                "content": f"message {seq} of a benchmark thread", "sender": user,
                "sender_display_name": "Bench", "metadata": None, "system": None,
            })))
        conn.executemany("INSERT INTO chat_messages VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("ACS_EMULATOR_BIN", str(ROOT / "target/release/acs-emulator")))
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="acs-emulator-state-bench-") as tmp:
        state = os.path.join(tmp, "state")
        empty = []
        for _ in range(args.runs):
            took, proc = start(args.bin, state, args.timeout)
            stop(proc)
            empty.append(took)
        fill(Path(state) / "state.db", args.messages, args.threads)
        size = (Path(state) / "state.db").stat().st_size
        full = []
        for _ in range(args.runs):
            took, proc = start(args.bin, state, args.timeout)
            stop(proc)
            full.append(took)
        print(f"binary {args.bin}")
        print(f"empty DIR: ready in {min(empty):.2f} s (best of {args.runs})")
        print(f"{args.messages:,} messages in {args.threads:,} threads ({size / 1e6:.0f} MB): "
              f"ready in {min(full):.2f} s (best of {args.runs}; all: {', '.join(f'{t:.2f}' for t in full)})")


if __name__ == "__main__":
    main()
