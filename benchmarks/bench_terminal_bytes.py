"""Bytes per second ppltop's dashboard writes to a 120x40 terminal while a run is going on.

Runs `ppltop` (the dashboard) in a pseudo-terminal on the demo model and its adapters with
--batch-size 1 (many small batches, the worst case for redraws) over the demo test set
repeated --repeat times (so the run is still going when the measurement ends), counts every
byte it writes, and prints the rate over the steady state (after the first screen is drawn),
for the default refresh rate and for --refresh 1.
Usage: python benchmarks/bench_terminal_bytes.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import struct
import sys
import tempfile
import termios
import time


def repeated_demo_data(repeat: int) -> str:
    from ppltop import demo

    folder = tempfile.mkdtemp(prefix="ppltop-bytes-")
    text = (demo.DATA_DIR / "test.jsonl").read_text()
    with open(os.path.join(folder, "test.jsonl"), "w") as f:
        f.write(text * repeat)
    return folder


def measure(extra: list[str], seconds: float, warmup: float, data: str) -> tuple[float, int]:
    from ppltop import demo

    adapters = []
    for path in demo.ADAPTER_DIRS.values():
        adapters += ["--adapter-path", str(path)]
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tempfile.mkdtemp())
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "ppltop", "--model", str(demo.MODEL_DIR),
                                  "--data", data, *adapters,
                                  "--batch-size", "1", *extra])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.monotonic()
    counted = 0
    steady_from = None
    try:
        while time.monotonic() - start < warmup + seconds:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            now = time.monotonic()
            if now - start >= warmup:
                steady_from = steady_from or now
                counted += len(data)
    finally:
        os.write(fd, b"q")
        time.sleep(1.0)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    elapsed = time.monotonic() - (steady_from or start)
    return counted / max(elapsed, 1e-9), counted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=6.0)
    p.add_argument("--repeat", type=int, default=10, help="copies of the demo test set")
    args = p.parse_args()
    data = repeated_demo_data(args.repeat)
    print(f"terminal 120x40, demo model + 2 adapters, test set x{args.repeat}, --batch-size 1, "
          f"{args.seconds:.0f}s after a {args.warmup:.0f}s warm-up")
    for label, extra in (("default (--refresh 2)", []), ("--refresh 1", ["--refresh", "1"])):
        rate, total = measure(extra, args.seconds, args.warmup, data)
        print(f"{label:<24} {rate / 1024:8.2f} KB/s  ({total:,} bytes)")


if __name__ == "__main__":
    main()
