"""End to end in a real terminal: tmux runs `ppltop` on the demo, we read the screen, press q."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from support.cli import run_ppltop
from support.tmux import exit_status, kill_session, tmux, wait_for_screen, wait_off_screen

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_dashboard_in_tmux_shows_the_headless_figures(tmp_path):
    headless = run_ppltop("--headless")
    assert headless.returncode == 0, headless.stderr
    base_ppl = re.search(r"== base ==\n.*\n.*\n  ppltop figure: loss [\d.]+  ppl ([\d.]+)",
                         headless.stdout).group(1)
    status = tmp_path / "status"
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = f"cd {tmp_path} && {sys.executable} -m ppltop; echo $? > {status}; sleep 60"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        deadline = time.monotonic() + 300
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if "finished" in screen and "PPL " in screen:
                break
            time.sleep(0.5)
        assert "finished" in screen, screen
        shown = re.search(r"PPL ([\d.]+) +95% CI", screen).group(1)
        assert f"{float(base_ppl):.3f}" == shown
        for pane in ("Config", "Running PPL", "Batch loss", "Log"):
            assert pane in screen
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status) == "0"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-60")
        assert "Test loss" in after and "Traceback" not in after
    finally:
        kill_session(session)


def test_detached_run_survives_the_terminal_closing(tmp_path):
    """--detach: the scoring outlives its terminal (SIGHUP); the dashboard only watched it."""
    from ppltop import demo
    from ppltop.core.store.run_dir import read_run

    run_dir = tmp_path / "run"
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = (f"cd {tmp_path} && {sys.executable} -m ppltop --detach --run-dir {run_dir} "
               f"--batch-size 1; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if "Running PPL" in tmux("capture-pane", "-p", "-t", session):
                break
            time.sleep(0.3)
        assert read_run(run_dir, with_results=False).status == "incomplete"
    finally:
        kill_session(session)
    deadline = time.monotonic() + 300
    while read_run(run_dir, with_results=False).status != "finished":
        assert time.monotonic() < deadline, "the detached run did not finish"
        time.sleep(0.5)
    record = read_run(run_dir)
    assert set(record.results) == {"base", *demo.ADAPTER_DIRS}
    n_examples = record.manifest.n_examples
    assert all(len(r) == n_examples for r in record.results.values())


# -- faults during a run: signals and a terminal that changes size ---------------------------

def _fault_args() -> list[str]:
    """The demo model and data, one adapter, one example per batch (51 batches): long enough
    to be interrupted, short enough to resume in seconds."""
    from ppltop import demo

    return ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
            "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"]), "--batch-size", "1"]


def _figures(path) -> list[dict]:
    import json

    keep = ("label", "loss", "ppl", "tokens", "examples", "stderr_loss", "ppl_ci95",
            "bits_per_byte", "mlx_lm")
    return [{k: r[k] for k in keep} for r in json.loads(path.read_text())["runs"]]


def _batch_lines(run_dir) -> int:
    try:
        return (run_dir / "events.jsonl").read_text().count('"type": "batch"')
    except FileNotFoundError:
        return 0


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _dashboard_pid(session: str) -> int:
    """The ppltop process in the pane (the pane's shell is its parent)."""
    shell = tmux("list-panes", "-t", session, "-F", "#{pane_pid}").strip()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", shell], capture_output=True,
                                  text=True).stdout.split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError("no ppltop process in the pane")


def _scoring_in_tmux(tmp_path, batches: int, args: list[str], env: str = "",
                     program: str = "-m ppltop") -> tuple[str, object, object]:
    """Start ppltop (`python program`) with `args` (and `env`, "VAR=value ...") in a 120x40
    tmux session; return (session, run directory, file that gets the exit status) once
    `batches` batch lines are written."""
    run_dir, status = tmp_path / "run", tmp_path / "status"
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = (f"cd {tmp_path} && {env} {sys.executable} {program} {' '.join(args)} "
               f"--run-dir {run_dir}; echo $? > {status}; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    deadline = time.monotonic() + 120
    while _batch_lines(run_dir) < batches:
        assert time.monotonic() < deadline, tmux("capture-pane", "-p", "-t", session)
        time.sleep(0.05)
    return session, run_dir, status


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("whole")
    proc = run_ppltop(*_fault_args(), "--headless", "--run-dir", str(tmp / "run"),
                      "--json", str(tmp / "whole.json"))
    assert proc.returncode == 0, proc.stderr
    return _figures(tmp / "whole.json")


@pytest.mark.parametrize("signame,extra", [("SIGTERM", ""), ("SIGINT", ""), ("SIGHUP", ""),
                                           ("SIGHUP", "--headless")],
                         ids=["SIGTERM", "SIGINT", "SIGHUP", "SIGHUP-headless"])
def test_a_signal_stops_the_run_cleanly_and_it_resumes(tmp_path, signame, extra,
                                                        uninterrupted):
    """SIGTERM and SIGINT sent to the dashboard, SIGHUP by closing its terminal (dashboard or
    headless): the batch in flight is finished and written, the run directory is complete
    and resumable, and the resumed run gives the figures of an uninterrupted one."""
    import signal

    from ppltop.core.store.run_dir import read_run

    session, run_dir, status = _scoring_in_tmux(tmp_path, 6, [*_fault_args(), extra])
    try:
        pid = _dashboard_pid(session)
        if signame == "SIGHUP":
            tmux("kill-session", "-t", session)  # the terminal goes away: a real hang-up
        else:
            os.kill(pid, getattr(signal, signame))
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline, f"ppltop still running after {signame}"
            time.sleep(0.1)
        if signame != "SIGHUP":
            assert exit_status(status) == "130"
            screen = tmux("capture-pane", "-p", "-t", session, "-S", "-60")
            assert f"ppltop: stopped by {signame}; the run directory keeps every finished " \
                   f"batch; continue with: ppltop resume {run_dir}" in screen.replace("\n", "")
            assert "cancelled: the figures below are partial" in screen
            assert "Traceback" not in screen
    finally:
        kill_session(session)
    record = read_run(run_dir)  # every batch line has its arrays
    assert record.status == "cancelled"
    assert record.batches_done == set(range(len(record.batches_done)))
    assert 6 // 2 <= len(record.batches_done) < record.manifest.n_batches
    out = tmp_path / "resumed.json"
    resumed = run_ppltop("resume", str(run_dir), "--headless", "--json", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert _figures(out) == uninterrupted


def _run_finished(run_dir) -> bool:
    return '"type": "finished"' in (run_dir / "events.jsonl").read_text()


def test_resizing_continuously_while_scoring_and_a_terminal_too_small(tmp_path):
    import json
    import random

    from ppltop import demo

    rng = random.Random(3)
    session, run_dir, status = _scoring_in_tmux(
        tmp_path, 2, ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                      "--batch-size", "2"])
    try:
        deadline = time.monotonic() + 120
        resizes = while_scoring = 0
        # at least 20 resizes, and on until the run has finished: how many land while it
        # scores depends on the machine's speed, so only a few are asked of that part
        while resizes < 20 or not _run_finished(run_dir):
            assert time.monotonic() < deadline, "the run did not finish while resizing"
            tmux("resize-window", "-t", session, "-x", str(rng.randint(30, 200)),
                 "-y", str(rng.randint(8, 60)))
            resizes += 1
            while_scoring += not _run_finished(run_dir)
            time.sleep(rng.uniform(0.02, 0.15))
        assert while_scoring >= 3, while_scoring
        tmux("resize-window", "-t", session, "-x", "60", "-y", "20")
        screen = ""
        for _ in range(50):
            screen = tmux("capture-pane", "-p", "-t", session)
            if "Terminal too small: 60x20" in screen:
                break
            time.sleep(0.1)
        size = tmux("display", "-p", "-t", session, "#{window_width}x#{window_height}")
        assert "Terminal too small: 60x20" in screen and "at least 80x24" in screen, \
            f"{size}\n{screen}"
        tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
        # The panes re-flow their figure lines on the resize event after the first frame
        # at the new size: wait for the whole PPL line, not just the pane's title.
        shown_ppl = re.compile(r"PPL ([\d.]+) +95% CI")
        # A capture may catch a frame half painted over the notice: wait for a whole one.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if "finished" in screen and shown_ppl.search(screen) and "too small" not in screen:
                break
            time.sleep(0.1)
        assert "too small" not in screen, screen
        finished = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
        assert shown_ppl.search(screen), screen
        shown = shown_ppl.search(screen).group(1)
        assert shown == f"{finished['summaries'][0]['ppl']:.3f}"
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status) == "0"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-80")
        assert "Test loss" in after and "Traceback" not in after
    finally:
        kill_session(session)


def test_a_fault_in_the_dashboard_is_shown_then_one_line_and_status_1(tmp_path):
    session, run_dir, status = _scoring_in_tmux(tmp_path, 1, _fault_args(),
                                                env="PPLTOP_FAULT_AT_BATCH=3")
    try:
        screen = ""
        deadline = time.monotonic() + 60
        while "Scoring stopped by an error" not in screen:
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
            screen = tmux("capture-pane", "-p", "-t", session)
        assert "scoring stopped in batch 4 of 51 by RuntimeError" in screen
        tmux("send-keys", "-t", session, "Escape")
        # the dashboard shows behind the error's panel: wait for the panel itself to close,
        # or q reaches the panel, not the dashboard
        wait_off_screen(session, "Scoring stopped by an error", timeout=30)
        wait_for_screen(session, "Running PPL", timeout=10)
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status) == "1"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-60").replace("\n", "")
        assert after.count("ppltop: scoring stopped in batch 4 of 51 by RuntimeError") == 1
        assert f"continue with: ppltop resume {run_dir}" in after and "Traceback" not in after
    finally:
        kill_session(session)


def test_an_exception_in_the_dashboard_exits_1_with_one_line(tmp_path):
    """A bug in the UI (here: an action that raises) must not look like success: Textual
    prints its traceback, ppltop adds one line naming the error, and the status is 1."""
    driver = tmp_path / "faulty_ui.py"
    driver.write_text(
        "import sys\n"
        "from ppltop.ui.app import PplTopApp\n\n"
        "def fault(self):\n"
        "    raise RuntimeError('simulated fault in the dashboard')\n\n"
        "PplTopApp.action_toggle_x_axis = fault\n"
        "from ppltop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    session, run_dir, status = _scoring_in_tmux(tmp_path, 1, _fault_args(), program=str(driver))
    try:
        tmux("send-keys", "-t", session, "x")
        assert exit_status(status) == "1"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-300").replace("\n", "")
        line = "ppltop: the dashboard failed: RuntimeError: simulated fault in the dashboard"
        assert after.count(line) == 1, after
        assert f"continue with: ppltop resume {run_dir}" in after
    finally:
        kill_session(session)


def test_cancel_then_quit_says_how_to_continue(tmp_path):
    """c stops after the batch in flight; the figures are partial, and the run resumable."""
    session, run_dir, status = _scoring_in_tmux(tmp_path, 2, _fault_args())
    try:
        tmux("send-keys", "-t", session, "c")
        wait_for_screen(session, "cancelled: figures are partial")
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status) == "130"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-300").replace("\n", "")
        assert (f"ppltop: cancelled: the figures below are partial; the run directory keeps "
                f"every finished batch; continue with: ppltop resume {run_dir}") in after
    finally:
        kill_session(session)


def test_quit_on_a_detached_dashboard_exits_0_and_the_run_goes_on(tmp_path):
    """q leaves the dashboard that watches a --detach run: nothing is interrupted."""
    import signal

    from ppltop import demo
    from ppltop.core.store.run_dir import read_run
    from ppltop.core.store.run_liveness import state_of

    # the test set ten times over (510 batches): the run is still scoring when q has left
    # the dashboard, however fast this machine scores the demo
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.jsonl").write_text((demo.DATA_DIR / "test.jsonl").read_text() * 10)
    args = [*_fault_args(), "--data", str(data), "--detach"]
    session, run_dir, status = _scoring_in_tmux(tmp_path, 1, args)
    pid = None
    try:
        wait_for_screen(session, "Running PPL")
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status) == "0"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-300").replace("\n", "")
        found = re.search(r"ppltop: the run goes on in the background \(pid (\d+)\); watch it "
                          rf"again with: ppltop open {re.escape(str(run_dir))}", after)
        assert found, after
        pid = int(found.group(1))
        assert _alive(pid) and read_run(run_dir, with_results=False).status == "incomplete"
        # scoring right now: every view says running, from the writer's liveness record
        assert state_of(run_dir).state == "running"
        listed = run_ppltop("runs", str(run_dir.parent))
        assert f"{run_dir.name}  running" in listed.stdout, listed.stdout
    finally:
        kill_session(session)
        if pid is not None:  # the background run stops after its batch, resumable
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid):
        assert time.monotonic() < deadline, "the background run did not stop on SIGTERM"
        time.sleep(0.2)
    assert state_of(run_dir).words() == f"stopped (resumable: ppltop resume {run_dir})"


# -- interrupted early: while the model loads, and before mlx-lm has a figure -------------

def _session(command: str) -> str:
    """A new 120x40 tmux session running `command`; its name."""
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    return session


@pytest.mark.parametrize("extra", ["--headless", ""], ids=["headless", "dashboard"])
def test_ctrl_c_while_the_model_loads_is_one_line_and_status_130(tmp_path, extra):
    """Ctrl-C in the seconds (minutes, on a real model) before scoring starts: no traceback
    through the loader, no death by SIGINT. `PPLTOP_HOLD_LOAD` holds the load on a file
    that never comes, so the key lands while loading, whatever the machine's speed."""
    status = tmp_path / "status"
    session = _session(f"cd {tmp_path} && PPLTOP_HOLD_LOAD={tmp_path / 'never'} "
                       f"{sys.executable} -m ppltop {extra} --run-dir {tmp_path / 'run'}; "
                       f"echo $? > {status}; sleep 60")
    try:
        loading = "ppltop: loading model and data ..."
        wait_for_screen(session, loading)
        tmux("send-keys", "-t", session, "C-c")
        assert exit_status(status) == "130"  # a shell killed by SIGINT writes no status
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-100").split(loading, 1)[1]
        lines = [line.replace("^C", "") for line in after.splitlines() if line.strip()]
        assert lines == ["ppltop: interrupted (Ctrl-C)"], after
    finally:
        kill_session(session)


NAN = re.compile(r"\bnan\b", re.IGNORECASE)


@pytest.mark.parametrize("how", ["headless-ctrl-c", "headless-sigterm", "dashboard-ctrl-c"])
def test_a_stop_after_the_first_batch_shows_no_nan_and_how_to_resume(tmp_path, how):
    """Stopped after ppltop's first (length-sorted) batch, before any of mlx-lm's file-order
    batches is complete: mlx-lm has no figure yet, and nothing says `nan` (stdout, stderr,
    the JSON, the report page); the last line says how to resume; SIGTERM's own line does
    not offer a second Ctrl-C."""
    import json
    import signal

    run_dir, status = tmp_path / "run", tmp_path / "status"
    out, err, report = tmp_path / "out.txt", tmp_path / "err.txt", tmp_path / "report.html"
    headless = how.startswith("headless")
    to_files = f"--headless > {out} 2> {err}" if headless else ""
    session = _session(f"cd {tmp_path} && {sys.executable} -m ppltop --run-dir {run_dir} "
                       f"--json {tmp_path / 'run.json'} {to_files}; echo $? > {status}; "
                       "sleep 60")
    try:
        deadline = time.monotonic() + 120
        while _batch_lines(run_dir) < 1:
            assert time.monotonic() < deadline, tmux("capture-pane", "-p", "-t", session)
            time.sleep(0.05)
        if how == "headless-sigterm":
            os.kill(_dashboard_pid(session), signal.SIGTERM)
        else:
            tmux("send-keys", "-t", session, "C-c")
        assert exit_status(status, timeout=60) == "130"
        terminal = tmux("capture-pane", "-p", "-t", session, "-S", "-400")
    finally:
        kill_session(session)
    stdout, stderr = (out.read_text(), err.read_text()) if headless else (terminal, terminal)
    signame = "SIGTERM" if how == "headless-sigterm" else "SIGINT"
    resume = (f"ppltop: stopped by {signame}; the run directory keeps every finished batch; "
              f"continue with: ppltop resume {run_dir}")
    assert resume in stderr.replace("\n", ""), stderr
    if headless:
        assert stderr.rstrip().endswith(resume)
        stopping = ("ppltop: stopping after this batch (SIGTERM; the run stays resumable)"
                    if signame == "SIGTERM" else "ppltop: stopping after this batch (Ctrl-C "
                    "again to quit now; the run stays resumable)")
        assert stopping in stderr and (signame == "SIGINT" or "Ctrl-C" not in stderr)
    assert "mlx-lm figure: not yet (no complete mlx-lm batch among the " in stdout
    assert not NAN.search(stdout) and not NAN.search(stderr) and "Traceback" not in stderr
    raw = (tmp_path / "run.json").read_text()
    assert "NaN" not in raw
    assert all(r["mlx_lm"] is None for r in json.loads(raw)["runs"])
    made = run_ppltop("report", str(run_dir), "-o", str(report))
    assert made.returncode == 0, made.stderr
    assert "mlx-lm figure: not yet" in report.read_text()
    assert not NAN.search(report.read_text())


def test_open_shows_the_machine_the_run_recorded_not_this_one(tmp_path):
    """`ppltop open` of a run scored elsewhere: the config pane's device, BLAS and versions
    are the manifest's (here set to a machine this one is not), not this process's."""
    import json

    run_dir, status = tmp_path / "run", tmp_path / "status"
    scored = run_ppltop("--headless", "--run-dir", str(run_dir))
    assert scored.returncode == 0, scored.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest.update(device="Device(gpu, 0)", mlx="9.9.9", mlx_lm="8.8.8",
                    blas={"name": "mkl", "path": "/opt/libmkl_rt.so", "gflops": 123.0,
                          "notice": None})
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = (f"cd {tmp_path} && {sys.executable} -m ppltop open {run_dir} --no-follow; "
               f"echo $? > {status}; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        wait_for_screen(session, "finished")
        wait_for_screen(session, "gpu · BLAS mkl 123 GFLOP/s")
        screen = tmux("capture-pane", "-p", "-t", session)
        assert "mlx 9.9.9 · mlx-lm 8.8.8" in screen and "BLAS ?" not in screen, screen
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status) == "0"
    finally:
        kill_session(session)
