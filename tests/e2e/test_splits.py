"""`--split valid,test`: several splits in one run, each split's figures those of a run of
that split alone, the labels side by side with their gap, in the printout, --json, --csv,
`ppltop open`; bad combinations refused in one line; a stop keeps what was scored."""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ppltop import demo
from ppltop.core.figures.checkpoints import (
    CheckpointCurve,
    CheckpointPoint,
    CheckpointSeries,
    curves_side_by_side,
)
from ppltop.core.figures.splits import split_rows
from support.cli import run_ppltop
from support.models import make_adapter
from support.paths import SCRATCH

KEEP = ("label", "iteration", "loss", "ppl", "ppl_ci95", "stderr_loss", "tokens", "examples",
        "mlx_lm")


def _runs(runs: list[dict]) -> list[dict]:
    return [{k: r.get(k) for k in KEEP} for r in runs]


class _Summary:
    def __init__(self, label, loss, mlx=None):
        self.label, self.loss = label, loss
        self.mlx_lm = None if mlx is None else type("F", (), {"loss": mlx, "missing": None})()


def test_rows_keep_the_run_order_and_the_gap_is_last_minus_first():
    rows = split_rows({"valid": [_Summary("base", 3.0, 3.1), _Summary("run1@100", 2.5)],
                       "test": [_Summary("base", 3.4), _Summary("run1@100", 3.25, 3.3)]})
    assert [r.label for r in rows] == ["base", "run1@100"]
    assert rows[1].iteration == 100 and rows[0].iteration is None
    assert rows[0].gap == pytest.approx(0.4) and rows[1].gap == pytest.approx(0.75)
    assert rows[1].to_dict()["mlx_lm_loss"] == {"valid": None, "test": 3.3}
    partial = split_rows({"valid": [_Summary("base", 3.0)], "test": []})
    assert math.isnan(partial[0].gap)  # not scored on test: no gap


def test_curves_side_by_side_name_each_series_with_its_split():
    def curve(loss, base):
        point = CheckpointPoint("run1@100", 100, loss, (loss - 1, loss + 1), None, True, True)
        return CheckpointCurve([CheckpointSeries("run1", [point], "run1@100")], base)

    one = curve(2.0, 3.0)
    assert curves_side_by_side({"test": one}) is one
    both = curves_side_by_side({"valid": curve(1.5, 2.5), "test": one})
    assert [s.name for s in both.series] == ["run1 · valid", "run1 · test"]
    assert both.bases == {"valid": 2.5, "test": 3.0} and both.base_loss is None
    assert both.to_dict()["series"][0]["split"] == "valid"
    assert curves_side_by_side({"valid": None, "test": None}) is None


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("splits") / "run1"
    folder.mkdir()
    for step, seed in ((100, 1), (200, 2)):
        one = make_adapter(demo.MODEL_DIR, folder.parent / f"a{step}", seed=seed)
        shutil.copy(one / "adapter_config.json", folder / "adapter_config.json")
        shutil.copy(one / "adapters.safetensors", folder / f"{step:07d}_adapters.safetensors")
    return folder


def _common(folder) -> list[str]:
    return ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--adapter-path",
            str(folder), "--checkpoints", "--test-batches", "2", "--headless"]


def test_two_splits_are_the_runs_of_each_split_side_by_side(two_checkpoints, tmp_path):
    run_dir, out, table = tmp_path / "r", tmp_path / "both.json", tmp_path / "both.csv"
    both = run_ppltop(*_common(two_checkpoints), "--split", "valid,test", "--run-dir",
                      str(run_dir), "--json", str(out), "--csv", str(table))
    assert both.returncode == 0, both.stderr
    printed = both.stdout
    assert printed.index("== split valid ==") < printed.index("== split test ==") \
        < printed.index("== valid and test side by side")
    assert printed.count("== checkpoints of run1 by iteration") == 2
    payload = json.loads(out.read_text())
    assert payload["splits"] == ["valid", "test"] and "runs" not in payload
    for split in ("valid", "test"):  # each split: the figures of a run of it alone
        alone = tmp_path / f"{split}.json"
        single = run_ppltop(*_common(two_checkpoints), "--split", split, "--run-dir",
                            str(tmp_path / split), "--json", str(alone))
        assert single.returncode == 0, single.stderr
        expected = json.loads(alone.read_text())
        got = payload["by_split"][split]
        assert _runs(got["runs"]) == _runs(expected["runs"])
        assert got["comparison"] == expected["comparison"]
        assert got["checkpoints"] == expected["checkpoints"]
        assert (run_dir / split / "manifest.json").is_file()
    losses = {split: {r["label"]: r["loss"] for r in payload["by_split"][split]["runs"]}
              for split in ("valid", "test")}
    side = payload["side_by_side"]
    assert [r["label"] for r in side] == ["base", "run1@100", "run1@200"]
    for row in side:  # the gap: the same figures, test minus valid
        assert row["gap"] == losses["test"][row["label"]] - losses["valid"][row["label"]]
        shown = next(line for line in printed.splitlines()
                     if line.startswith(row["label"] + " ") and line.rstrip().endswith(
                         f"{row['gap']:+.4f}"))
        assert f"{row['loss']['valid']:.4f}" in shown and f"{row['loss']['test']:.4f}" in shown
    rows = list(csv.DictReader(table.open()))
    assert [(r["split"], r["label"]) for r in rows] == [
        (split, label) for split in ("valid", "test") for label in losses[split]]
    assert all(float(r["loss"]) == losses[r["split"]][r["label"]] for r in rows)

    reopened = tmp_path / "open.json"  # read back: the same figures
    opened = run_ppltop("open", str(run_dir), "--headless", "--json", str(reopened))
    assert opened.returncode == 0, opened.stderr
    again = json.loads(reopened.read_text())
    assert again["side_by_side"] == side
    for split in ("valid", "test"):
        assert _runs(again["by_split"][split]["runs"]) == _runs(payload["by_split"][split]["runs"])


@pytest.mark.parametrize("flags,line", [
    (["--split", "valid,valid"], "ppltop: argument --split: 'valid,valid': each split once"),
    (["--split", "valid,dev"], "ppltop: argument --split: invalid choice: 'dev'"),
    (["--split", "valid,test", "--watch", "--model", str(demo.MODEL_DIR), "--data",
      str(demo.DATA_DIR), "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"])],
     "ppltop: --split valid,test with --watch: a watch scores one split"),
    (["--split", "valid,test", "--detach"],
     "ppltop: --split valid,test with --detach: detach one run per split"),
])
def test_combinations_that_cannot_be_are_one_line(flags, line):
    out = run_ppltop(*flags)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(line), out.stderr
    assert "Traceback" not in out.stderr


def test_a_stop_in_the_first_split_keeps_it_and_names_the_next(tmp_path):
    run_dir = tmp_path / "r"
    args = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--adapter-path",
            str(demo.ADAPTER_DIRS["docs-net"]), "--batch-size", "1", "--split", "valid,test",
            "--headless", "--run-dir", str(run_dir), "--json", str(tmp_path / "o.json")]
    proc = subprocess.Popen([sys.executable, "-m", "ppltop", *args], cwd=SCRATCH, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        events = run_dir / "valid" / "events.jsonl"
        while not events.exists() or events.read_text().count('"type": "batch"') < 4:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"score them with: ppltop resume {run_dir / 'test'}" in err
    assert "Traceback" not in err
    payload = json.loads((tmp_path / "o.json").read_text())
    assert payload["splits"] == ["valid", "test"] and list(payload["by_split"]) == ["valid"]
    assert not payload["by_split"]["valid"]["runs"][0]["complete"]


@pytest.mark.parametrize("split,word", [("valid", "Val"), ("train", "Train"), ("test", "Test")])
def test_each_split_prints_mlx_lm_s_line_with_mlx_lm_s_word_for_it(split, word, tmp_path):
    """mlx-lm's training log names valid.jsonl's loss `Val loss` (and the training loss
    `Train loss`); only --test's is `Test loss`: the same digits under the split's word."""
    out = tmp_path / "run.json"
    run = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--split",
                     split, "--test-batches", "1", "--headless", "--no-base", "--adapter-path",
                     str(demo.ADAPTER_DIRS["docs-net"]), "--run-dir", str(tmp_path / "r"),
                     "--json", str(out))
    assert run.returncode == 0, run.stderr
    figure = json.loads(out.read_text())["runs"][0]["mlx_lm"]
    want = f"{word} loss {figure['loss']:.3f}, {word} ppl {figure['ppl']:.3f}."
    assert [line for line in run.stdout.splitlines() if " ppl " in line and
            line.split()[0] in ("Test", "Val", "Train")] == [want]
