"""A run directory says whether it is being scored right now: the writer's pid, host and
heartbeat. Every view reads it the same way (`run_liveness.state_of`): the runs screen,
`ppltop runs`, a dashboard watching the run; resuming a finished run changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ppltop import demo
from ppltop.core.store.run_dir import EVENTS, MANIFEST
from ppltop.core.store.run_liveness import LIVENESS, STALE_S, Heartbeat, state_of
from ppltop.view.run_index import run_row
from support.cli import run_ppltop
from support.waiting import pilot_until, wait_until


def _run_dir(tmp_path, events=(), name="run"):
    run = tmp_path / name
    run.mkdir()
    (run / MANIFEST).write_text(json.dumps({"config": {"model": "m"}, "labels": ["base"],
                                            "data_file": "d.jsonl", "n_batches": 3}))
    (run / EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


def test_states_from_the_record_and_the_events(tmp_path):
    run = _run_dir(tmp_path)
    beat = Heartbeat(run, interval_s=0.05)
    beat.start()
    assert state_of(run).state == "running"
    assert run_row(run).status == "running"

    def beaten():
        record = json.loads((run / LIVENESS).read_text())
        return record if record["heartbeat"] > record["started"] else None

    record = wait_until(beaten, 10, "a heartbeat after the start")
    assert record["pid"] == os.getpid()
    # a writer that stops beating (killed, its machine lost) is gone after STALE_S
    assert state_of(run, now=record["heartbeat"] + STALE_S + 1).state == "stopped"
    beat.stop("stopped")
    state = state_of(run)
    assert state.state == "stopped" and state.resumable
    assert state.words() == f"stopped (resumable: ppltop resume {run})"
    assert run_row(run).figures == f"resumable: ppltop resume {run}"
    beat.stop("finished")  # the first stop wins
    assert json.loads((run / LIVENESS).read_text())["state"] == "stopped"


def test_a_writer_killed_with_sigkill_is_seen_gone(tmp_path):
    run = _run_dir(tmp_path)
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; "
                              "from ppltop.core.store.run_liveness import Heartbeat;"
                              "Heartbeat(sys.argv[1], 0.05).start(); time.sleep(60)", str(run)])
    wait_until(lambda: (run / LIVENESS).exists() and state_of(run).state == "running", 10,
               "the child's heartbeat")
    child.send_signal(signal.SIGKILL)
    child.wait()
    state = state_of(run)  # same host, dead pid: gone at once, not after the timeout
    assert state.state == "stopped" and f"pid {child.pid}" in state.why


def test_finished_and_failed_runs(tmp_path):
    run = _run_dir(tmp_path, [{"type": "finished", "cancelled": False, "summaries": []}])
    assert state_of(run).state == "finished" and not state_of(run).resumable
    failed = _run_dir(tmp_path, [{"type": "notice", "level": "error", "message": "boom"}],
                      name="failed")
    assert state_of(failed).words() == f"failed (resumable: ppltop resume {failed})"


def test_resuming_a_finished_run_says_so_and_changes_nothing(tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:4]))
    run = tmp_path / "runs" / "done"
    first = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(data), "--headless",
                       "--run-dir", str(run))
    assert first.returncode == 0
    assert json.loads((run / LIVENESS).read_text())["state"] == "finished"
    listed = run_ppltop("runs", str(run.parent))
    assert "done" in listed.stdout and "finished" in listed.stdout
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    again = run_ppltop("resume", str(run))
    assert again.returncode == 0, again.stderr
    assert f"{run} is finished (base ppl " in again.stdout and "nothing changed" in again.stdout
    assert "tok/s" not in again.stdout + again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


async def test_a_dashboard_watching_a_run_notices_its_writer_is_gone(tmp_path):
    from ppltop.core.store.replay import RunFollower
    from ppltop.ui.app import PplTopApp

    data = tmp_path / "test.jsonl"
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:8]))
    run = tmp_path / "runs" / "cut"
    assert run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(data), "--headless",
                      "--batch-size", "2", "--run-dir", str(run)).returncode == 0
    # as if its writer were killed after two batches: no finish, a record of a dead pid
    lines = (run / EVENTS).read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["type"] != "finished"][:4]
    (run / EVENTS).write_text("\n".join(kept) + "\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = json.loads((run / LIVENESS).read_text())
    record.update(state="scoring", pid=dead.pid, heartbeat=time.time())
    (run / LIVENESS).write_text(json.dumps(record))
    follower = RunFollower(run, follow=True, poll_s=0.1)
    app = PplTopApp(follower.events, {"model": "demo"}, request_stop=follower.stop,
                    watching=True, run_dir=run)
    try:
        await _watch(app, run)
    finally:
        follower.stop()  # the thread following the run ends with the test


async def _watch(app, run):
    from support.screen_text import screen_text

    async with app.run_test(size=(120, 40)) as pilot:
        words = f"stopped (resumable: ppltop resume {run})"
        await pilot_until(pilot, lambda: app.live.writer_gone and app.sub_title == words, 10,
                          "the writer seen gone in the title")
        text = screen_text(app)
        assert words in " ".join(text.split()) or "resumable: ppltop" in text
        assert "ETA –" in text  # no frozen estimate
        # logged once, wherever the replayed events land around it
        assert sum("the scoring process stopped" in " ".join(e) for e in app.live.log) == 1


def test_a_resumed_run_says_so_in_its_log(tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:4]))
    run = tmp_path / "runs" / "again"
    assert run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(data), "--headless",
                      "--batch-size", "2", "--run-dir", str(run)).returncode == 0
    events = run / EVENTS
    kept = [line for line in events.read_text().splitlines() if '"finished"' not in line]
    events.write_text("\n".join(kept[:3]) + "\n")  # started, a notice or a batch: unfinished
    assert state_of(run).state == "stopped"
    resumed = run_ppltop("resume", str(run), "--headless")
    assert resumed.returncode == 0, resumed.stderr
    said = [json.loads(line) for line in events.read_text().splitlines()]
    assert any(e["type"] == "notice" and e["message"].startswith(f"resumed {run}")
               for e in said)
    assert state_of(run).state == "finished"
