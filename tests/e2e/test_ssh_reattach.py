"""A real SSH session on loopback drops mid-run; the run goes on under nohup and is reattached."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppltop import demo
from ppltop.core.store.run_dir import EVENTS, read_run
from support import BLAS
from support.cli import run_ppltop

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)

pytestmark = pytest.mark.skipif(
    SSHD is None or shutil.which("ssh") is None or os.geteuid() != 0,
    reason="needs sshd and ssh (Debian: openssh-server) and root to run sshd on 127.0.0.1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)],
                       check=True)
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    os.chmod(keys / "authorized_keys", 0o600)
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nStrictModes no\nUsePAM no\n"
        f"PidFile {tmp_path / 'sshd.pid'}\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"sshd did not start: {server.stderr.read().decode()[-200:]}")
            time.sleep(0.1)
    ssh = ["ssh", "-i", str(keys / "user"), "-p", str(port), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", "root@127.0.0.1"]
    yield ssh
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)


def test_dropped_ssh_session_then_reattach(tmp_path, sshd):
    args = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--batch-size", "1",
            "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"])]
    whole = tmp_path / "whole.json"
    assert run_ppltop(*args, "--headless", "--run-dir", str(tmp_path / "whole"),
                      "--json", str(whole),
                      env={"PPLTOP_BLAS": BLAS.path or "bundled"}).returncode == 0
    run_dir = tmp_path / "run"
    # a fresh HOME probes the BLAS anew, and on a loaded machine `auto` may then take the
    # other library (MKL and OpenBLAS measure close): the remote run gets this process's own
    # choice, so that the figures can be compared to the last digit
    env = f"PATH={os.environ['PATH']} HOME={tmp_path} PPLTOP_BLAS={BLAS.path or 'bundled'}"
    remote = (f"cd {tmp_path} && {env} nohup {sys.executable} -m ppltop {' '.join(args)} "
              f"--headless --run-dir {run_dir} > {tmp_path / 'remote.log'} 2>&1 < /dev/null & "
              "wait")  # the session lasts while the run does, and ends with it (no leftover)
    session = subprocess.Popen([*sshd, remote], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        lines = (run_dir / EVENTS).read_text().count('"type": "batch"') \
            if (run_dir / EVENTS).exists() else 0
        if lines >= 3:
            break
        assert session.poll() is None, session.stderr.read().decode()
        assert time.monotonic() < deadline, "the remote run never started"
        time.sleep(0.1)
    session.send_signal(signal.SIGKILL)  # the connection drops, as when a laptop sleeps
    session.wait()
    assert read_run(run_dir, with_results=False).status == "incomplete"
    out = tmp_path / "reattached.json"
    reattach = subprocess.run([*sshd, f"cd {tmp_path} && {env} {sys.executable} -m ppltop "
                               f"open {run_dir} --json {out}"],
                              capture_output=True, text=True, timeout=600)
    assert reattach.returncode == 0, reattach.stderr
    assert read_run(run_dir, with_results=False).status == "finished"

    def figures(path):
        return [{k: r[k] for k in ("label", "loss", "ppl", "tokens", "mlx_lm")}
                for r in json.loads(path.read_text())["runs"]]

    assert figures(out) == figures(whole)
