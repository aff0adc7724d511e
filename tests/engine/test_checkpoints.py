"""Checkpoints: labels and iterations, the curve and its best checkpoint, the headless table
and --json/--csv, and the watcher that takes a checkpoint only once it is complete."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import time

import pytest

from ppltop import demo
from ppltop.checkpoint_table import render_checkpoints
from ppltop.core.checkpoint_files import (
    check_choice,
    checkpoint_label,
    choose_files,
    file_iteration,
    label_order,
    parse_label,
)
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.figures.checkpoints import curve_of_finished
from ppltop.core.figures.compare import compare
from ppltop.core.model.checkpoint_watch import CheckpointWatcher, snapshot_adapter
from support.cli import run_ppltop
from support.models import make_adapter
from support.watch import written_long_ago


def test_labels_and_iterations(tmp_path):
    assert file_iteration(tmp_path / "0001600_adapters.safetensors") == 1600
    assert file_iteration(tmp_path / "adapters.safetensors") is None
    assert checkpoint_label(tmp_path / "run1", tmp_path / "0000100_adapters.safetensors") \
        == "run1@100"
    assert checkpoint_label(tmp_path / "run1", tmp_path / "adapters.safetensors") == "run1@final"
    assert parse_label("run1@100") == ("run1", 100)
    assert parse_label("my@run@2#2") == ("my@run", 2)
    assert parse_label("run1@final") == ("run1", None)
    assert parse_label("base") is None and parse_label("docs-net") is None
    labels = ["run1@final", "run1@200", "base", "run1@30", "other"]
    assert sorted(labels, key=label_order) == ["base", "other", "run1@30", "run1@200",
                                               "run1@final"]


def test_choosing_checkpoints(tmp_path):
    files = [tmp_path / f"{i:07d}_adapters.safetensors" for i in (100, 200, 300, 400, 1000)]
    final = tmp_path / "adapters.safetensors"
    names = [f.name[:7] for f in choose_files(files + [final], "every=200")]
    assert names == ["0000200", "0000400", "0001000", "adapter"]
    names = [f.name[:7] for f in choose_files(files + [final], "last=2")]
    assert names == ["0000400", "0001000", "adapter"]
    assert choose_files(files, "all") == files
    for bad in ("every=0", "last=", "each=2", "every=x"):
        with pytest.raises(ValueError):
            check_choice(bad)


def test_a_bad_choice_is_one_line():
    out = run_ppltop("--checkpoints", "every=0")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("ppltop: argument --checkpoints: 'every=0': use all, every=N")


@pytest.fixture(scope="module")
def training_folder(tmp_path_factory):
    """An adapter folder as mlx_lm.lora --save-every leaves it: three checkpoints (three
    different adapters) and the final weights (a copy of the last)."""
    folder = tmp_path_factory.mktemp("ckpt") / "run1"
    for step, seed in ((100, 1), (200, 2), (300, 3)):
        one = make_adapter(demo.MODEL_DIR, folder.parent / f"a{step}", seed=seed)
        folder.mkdir(exist_ok=True)
        shutil.copy(one / "adapter_config.json", folder / "adapter_config.json")
        shutil.copy(one / "adapters.safetensors", folder / f"{step:07d}_adapters.safetensors")
    shutil.copy(folder / "0000300_adapters.safetensors", folder / "adapters.safetensors")
    written_long_ago(folder)  # the watch test expects all three found in its first look
    return folder


def test_the_curve_marks_the_best_and_pairs_the_others_against_it(handle, training_folder):
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, adapters=[training_folder],
                     checkpoints=True, test_batches=3)
    finished = list(Evaluation(cfg, handle).events())[-1]
    curve = curve_of_finished(finished)
    (series,) = curve.series
    assert [p.label for p in series.points] == ["run1@100", "run1@200", "run1@300",
                                                "run1@final"]
    assert [p.iteration for p in series.points] == [100, 200, 300, None]
    losses = {s.label: s.loss for s in finished.summaries}
    best = min(series.points, key=lambda p: p.loss)
    assert series.best == best.label
    assert curve.base_loss == losses["base"]
    for point in series.points:
        assert point.loss == losses[point.label]
        if point.label == best.label:
            assert point.verdict == "best" and point.versus_best is None
            continue
        # the core's own paired comparison against the best, not a second computation
        direct = compare(point.label, finished.results[point.label], best.label,
                         finished.results[best.label])
        assert point.versus_best.delta_ci95 == direct.delta_ci95
        assert point.verdict == ("worse" if direct.significant else "as good")
    assert series.plotted()[-1].label == "run1@300"  # the final weights are listed, not drawn
    table = render_checkpoints(curve)
    lines = table.splitlines()
    rows = [ln for ln in lines if ln.lstrip()[:1].isdigit() or ln.lstrip().startswith("final")]
    assert [r.split()[1] for r in rows] == ["run1@100", "run1@200", "run1@300", "run1@final"]
    assert sum("* best" in r for r in rows) == 1 and best.label in next(
        r for r in rows if "* best" in r)


def test_headless_json_and_csv_carry_the_iteration(training_folder, tmp_path):
    out = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                     "--adapter-path", str(training_folder), "--checkpoints",
                     "--test-batches", "2", "--json", str(tmp_path / "r.json"),
                     "--csv", str(tmp_path / "r.csv"), "--run-dir", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    assert "== checkpoints of run1 by iteration" in out.stdout
    payload = json.loads((tmp_path / "r.json").read_text())
    iterations = {r["label"]: r["iteration"] for r in payload["runs"]}
    assert iterations == {"base": None, "run1@100": 100, "run1@200": 200, "run1@300": 300,
                          "run1@final": None}
    (series,) = payload["checkpoints"]["series"]
    assert [c["iteration"] for c in series["checkpoints"]] == [100, 200, 300, None]
    assert sum(c["verdict"] == "best" for c in series["checkpoints"]) == 1
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["iteration"] for r in rows] == ["", "100", "200", "300", ""]
    table = out.stdout[out.stdout.index("== checkpoints of run1"):]
    chosen = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                        "--adapter-path", str(training_folder), "--checkpoints", "last=1",
                        "--no-base", "--test-batches", "1", "--run-dir", str(tmp_path / "r2"))
    assert chosen.returncode == 0, chosen.stderr
    assert "labels: run1@300, run1@final" in chosen.stderr
    opened = run_ppltop("open", str(tmp_path / "run"), "--headless")
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout[opened.stdout.index("== checkpoints of run1"):] == table
    # the report draws the same curve: each checkpoint's loss and verdict as the JSON has them
    made = run_ppltop("report", str(tmp_path / "run"), "-o", str(tmp_path / "r.html"))
    assert made.returncode == 0, made.stderr
    page = (tmp_path / "r.html").read_text()
    section = page[page.index('<section id="checkpoints">'):]
    section = section[:section.index("</section>")]
    for c in series["checkpoints"]:
        row = re.search(rf'<tr data-label="{re.escape(c["label"])}">(.*?)</tr>', section).group(1)
        assert f'data-field="loss" data-value="{json.dumps(c["loss"])}"' in row
        assert f'data-field="verdict" data-value="{html.escape(json.dumps(c["verdict"]))}"' in row
    assert "(best)" in section and "<svg" in section


def test_the_watcher_takes_a_checkpoint_once_and_only_when_complete(tmp_path, training_folder):
    now = [0.0]
    folder = tmp_path / "train"
    folder.mkdir()
    watcher = CheckpointWatcher(folder, stable_s=1.0, clock=lambda: now[0])
    whole = (training_folder / "0000100_adapters.safetensors").read_bytes()
    target = folder / "0000100_adapters.safetensors"
    target.write_bytes(whole[: len(whole) // 2])  # mlx-lm has written half of it
    assert watcher.ready() == []
    now[0] += 5  # stable, but no adapter_config.json yet (and half written)
    assert watcher.ready() == []
    shutil.copy(training_folder / "adapter_config.json", folder)
    now[0] += 5  # stable, but its header describes more bytes than the file holds
    assert watcher.ready() == []
    with open(target, "ab") as fh:
        fh.write(whole[len(whole) // 2:])
    assert watcher.ready() == []  # just grew: not yet stable
    now[0] += 0.5
    assert watcher.ready() == []
    now[0] += 1
    assert watcher.ready() == [target]
    now[0] += 5
    assert watcher.ready() == []  # taken once
    for step in (200, 300):
        shutil.copy(training_folder / f"{step:07d}_adapters.safetensors", folder)
    shutil.copy(training_folder / "adapters.safetensors", folder)  # never taken
    assert not watcher.settling()
    assert watcher.ready() == []
    assert watcher.settling()  # just copied: not "waiting for new checkpoints" yet
    now[0] += 2
    assert [p.name for p in watcher.ready()] == ["0000300_adapters.safetensors",
                                                 "0000200_adapters.safetensors"]
    assert not watcher.settling()
    old = folder / "0000050_adapters.safetensors"  # there, untouched, when the watch began
    shutil.copy(training_folder / "0000100_adapters.safetensors", old)
    os.utime(old, (time.time() - 60, time.time() - 60))
    assert watcher.ready() == [old]
    frozen = snapshot_adapter(folder, target, tmp_path / "frozen")
    assert frozen.name == "train@100"
    assert (frozen / "adapters.safetensors").read_bytes() == whole
    assert (frozen / "adapter_config.json").is_file()


def test_watch_needs_an_adapter_folder():
    out = run_ppltop("--watch")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("ppltop: --watch: needs the "
                                                          "--adapter-path")


def test_watch_with_kl_is_refused(tmp_path):
    out = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                     "--adapter-path", str(tmp_path), "--watch", "--kl")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("ppltop: --kl with --watch: ")


def test_watch_names_a_checkpoint_it_cannot_score_and_goes_on(tmp_path, training_folder):
    import signal
    import subprocess
    import sys

    from support.paths import SCRATCH

    folder = tmp_path / "train"
    folder.mkdir()
    shutil.copy(training_folder / "adapter_config.json", folder)
    shutil.copy(training_folder / "0000100_adapters.safetensors", folder)
    wrong = make_adapter(demo.MODEL_DIR, tmp_path / "rank8", rank=8)  # not the config's rank
    shutil.copy(wrong / "adapters.safetensors", folder / "0000200_adapters.safetensors")
    err = tmp_path / "err"
    with open(err, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ppltop", "--model", str(demo.MODEL_DIR), "--data",
             str(demo.DATA_DIR), "--adapter-path", str(folder), "--watch", "--no-base",
             "--test-batches", "1", "--run-dir", str(tmp_path / "w"),
             "--json", str(tmp_path / "w.json")],
            stdout=subprocess.PIPE, stderr=fh, text=True, cwd=SCRATCH,
            stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 240
            while "waiting for new checkpoints" not in err.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = err.read_text()
    assert proc.returncode == 0, log
    assert "ppltop: watch: train@200 not scored: " in log
    assert "Traceback" not in log
    runs = json.loads((tmp_path / "w.json").read_text())["runs"]
    assert [r["label"] for r in runs] == ["train@100"]


def test_watch_detach_runs_beside_the_training(tmp_path, training_folder):
    import re
    import signal

    out = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                     "--adapter-path", str(training_folder), "--watch", "--detach",
                     "--no-base", "--test-batches", "1", "--run-dir", str(tmp_path / "w"),
                     timeout=60)
    assert out.returncode == 0, out.stderr
    pid = int(re.search(r"background \(pid (\d+);", out.stderr).group(1))
    try:
        deadline = time.monotonic() + 240
        log = tmp_path / "w" / "ppltop.log"
        while log.read_text().count(" scored: ") < 3:  # its three numbered checkpoints
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
    finally:
        os.kill(pid, signal.SIGTERM)  # stops as Ctrl-C does
    deadline = time.monotonic() + 60
    while "== checkpoints of run1" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
    assert (tmp_path / "w" / "run1@300" / "manifest.json").is_file()


def test_the_watch_as_one_run_for_the_dashboard(handle, training_folder, tmp_path):
    """The watch's events as the dashboard folds them: one start, each checkpoint added
    (the newest first) and finished with its own run's figures, the curve from those
    figures while the watch goes on, and at the end the merged run."""
    from ppltop.core.figures.checkpoints import curve_of_live
    from ppltop.core.store.events import LabelAdded, LabelFinished, Notice, RunFinished, RunStarted
    from ppltop.run.request import RunRequest
    from ppltop.run.watch_session import WatchSession
    from ppltop.view.live import LiveRun

    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, adapters=[training_folder],
                     test_batches=1)
    session = WatchSession(cfg, RunRequest(headless=False), None, tmp_path / "w", handle)
    session.prepare()
    live, seen, deadline = LiveRun(), [], time.monotonic() + 300  # a loaded machine
    for event in session.events():  # the watch's one stream, as the dashboard has it
        seen.append(event)
        live.apply(event)
        assert time.monotonic() < deadline, seen
        if isinstance(event, Notice) and "waiting for new checkpoints" in event.message:
            assert "(q ends)" in event.message  # (files just copied wait a second: stable)
            if len(live.labels) == 4:
                curve = curve_of_live(live)  # before the end: each checkpoint's own figures
                session.stop()
    assert sum(isinstance(e, RunStarted) for e in seen) == 1
    added = [e.label for e in seen if isinstance(e, LabelAdded)]
    assert added == ["run1@300", "run1@200", "run1@100"]  # the newest first
    own = {e.summary.label: e.summary for e in seen if isinstance(e, LabelFinished)}
    assert set(own) == {"base", *added}
    assert live.plan.labels == ["base", *added] and list(live.labels) == live.plan.labels
    assert {p.label: p.loss for p in curve.points()} == {
        label: own[label].loss for label in added}
    assert all(p.complete and p.mlx_lm_loss is not None for p in curve.points())
    merged = seen[-1]
    assert isinstance(merged, RunFinished) and not merged.cancelled
    assert [s.label for s in merged.summaries] == ["base", "run1@100", "run1@200", "run1@300"]
    assert all(s.loss == own[s.label].loss for s in merged.summaries)
    assert merged.comparisons and merged.comparisons[0].reference == "base"


def test_a_checkpoint_being_scored_is_never_the_best():
    """A watch scoring run1@20 (8 of 24 examples so far, a lower loss on them than run1@10
    over all 24): run1@10, complete, is the best; run1@20 is `scoring…`, compared with it
    over the 8 examples both have, and every view says so."""
    from ppltop.core.figures.checkpoints import curve_of_live
    from ppltop.view.live import LiveRun
    from support import synthetic

    live = LiveRun()
    for event in synthetic.watch_events(partial_batches=2):
        live.apply(event)
    curve = curve_of_live(live)
    (series,) = curve.series
    complete, scoring = series.points
    assert scoring.loss < complete.loss  # lowest, but over a third of the examples
    assert series.best == "run1@10" and complete.best and not scoring.best
    assert complete.versus_best is None and complete.verdict == "best"
    assert not scoring.complete and scoring.verdict == "scoring…"
    results = {label: index.results for label, index in live.index.items()}
    direct = compare("run1@20", results["run1@20"], "run1@10", results["run1@10"])
    assert scoring.versus_best.examples == scoring.common_examples == 8
    assert scoring.versus_best.delta_ci95 == direct.delta_ci95
    assert curve.incomplete() == [scoring]
    row = next(ln for ln in render_checkpoints(curve).splitlines() if "run1@20" in ln)
    assert row.endswith("scoring… (Δ over 8 common examples)"), row
    saved = curve.to_dict()["series"][0]["checkpoints"][1]
    assert (saved["verdict"], saved["examples_vs_best"]) == ("scoring…", 8)


def test_no_best_until_a_checkpoint_is_scored_to_its_end():
    """The first checkpoint of a watch, scored in part: drawn, never the best."""
    import itertools

    from ppltop.core.figures.checkpoints import curve_of_live
    from ppltop.core.store.events import LabelAdded
    from ppltop.view.live import LiveRun
    from support import synthetic

    live = LiveRun()
    events = synthetic.watch_events(partial_batches=2)
    for event in events:  # base and run1@10 scored, run1@20 not yet added
        if isinstance(event, LabelAdded) and event.label == "run1@10":
            live.apply(event)
            break
        live.apply(event)
    for event in itertools.islice(events, 3):  # 3 of run1@10's 6 batches
        live.apply(event)
    (series,) = curve_of_live(live).series
    (point,) = series.points
    assert series.best is None and not point.best and point.verdict == "scoring…"
    assert "(best: – (no checkpoint scored to its end)" in render_checkpoints(
        curve_of_live(live))
