#!/usr/bin/env python3
"""Start-up and footprint of the acs-emulator binary (and its container image, when built).

Measures, over several runs of the release binary on this machine:
  * exec → ready block printed (the listeners are bound and the certificate is written),
  * exec → first HTTP 200 from /_emulator/health,
  * resident memory (VmRSS) one second after start, idle,
and prints the image size if `podman` knows localhost/acs-emulator:check
(built by scripts/container-check.sh).

    cargo build --release && python3 bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def one_run(binary: Path, workdir: Path) -> tuple[float, float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(binary), "--port", "0", "--http-port", "0", "--log-level", "warn",
         "--tls-cert-out", str(workdir / "cert.pem")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        http = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip().startswith("HTTP endpoint"):
                http = line.split()[-1]
            if "Stop with" in line:
                break
        ready = time.perf_counter() - start
        if http is None:
            raise RuntimeError("no ready block")
        while True:
            try:
                with OPENER.open(http + "_emulator/health", timeout=1) as res:
                    if res.status == 200:
                        break
            except OSError:
                time.sleep(0.0005)
        first_200 = time.perf_counter() - start
        time.sleep(1.0)
        rss_kb = 0
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
        return ready, first_200, rss_kb
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "acs-emulator")
    args = parser.parse_args()
    if not args.binary.is_file():
        raise SystemExit(f"{args.binary} not found: run `cargo build --release` first")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(args.binary, Path(tmp)) for _ in range(args.runs)]
    ready = sorted(r[0] * 1000 for r in runs)
    first = sorted(r[1] * 1000 for r in runs)
    rss = sorted(r[2] / 1024 for r in runs)
    print(f"runs: {args.runs} (binary {args.binary}, {args.binary.stat().st_size / 1e6:.1f} MB)")
    print(f"exec → ready block     median {statistics.median(ready):6.1f} ms   min {ready[0]:6.1f}   max {ready[-1]:6.1f}")
    print(f"exec → first HTTP 200  median {statistics.median(first):6.1f} ms   min {first[0]:6.1f}   max {first[-1]:6.1f}")
    print(f"idle RSS after 1 s     median {statistics.median(rss):6.1f} MB")
    if shutil.which("podman"):
        out = subprocess.run(["podman", "image", "inspect", "localhost/acs-emulator:check", "--format", "{{.Size}}"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            print(f"container image size   {int(out.stdout.strip()) / 1e6:.1f} MB (localhost/acs-emulator:check)")


if __name__ == "__main__":
    main()
