"""`mlx.launch` on loopback: ranks of the ring backend, on free ports."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
LAUNCH = BIN / "mlx.launch"
PPLTOP = BIN / "ppltop"


def free_ports(n: int = 2) -> int:
    """A port p with p .. p+n-1 free on 127.0.0.1 (mlx.launch gives rank r port p+r)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        try:
            for port in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports")


def launch_cmd(*command: str, ranks: int = 2) -> list[str]:
    return [str(LAUNCH), "-n", str(ranks), "--backend", "ring", "--starting-port",
            str(free_ports(ranks)), "--env", "MKL_NUM_THREADS=1", "--", *command]


def launch(*command: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd(*command), capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)
