"""Run sets: the typed records that mark a run over splits and a watch (`splits.json`,
`watch.json`, each with the reference asked for), and the one refusal of a run directory
that already holds a run or a run set, the same from the command line as from the writers."""

from __future__ import annotations

import json

import pytest

from ppltop.core.errors import InputError
from ppltop.core.store.records import Manifest, SplitsRecord, WatchRecord, held_by, refuse_held
from ppltop.core.store.run_dir import RunWriter, read_run_set, start_run_set, write_run_set
from support.cli import run_ppltop


def test_each_record_reads_back_as_written_and_an_older_one_without_a_reference(tmp_path):
    for record in (SplitsRecord(("valid", "test"), "docs-net"),
                   WatchRecord(("/a", "/b"), "run1@200", stopped_by="SIGHUP")):
        folder = tmp_path / record.FILE
        write_run_set(folder, record)
        assert read_run_set(folder) == record
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "splits.json").write_text(json.dumps({"splits": ["valid", "test"]}))
    older = read_run_set(tmp_path / "old")  # written before the reference was kept
    assert older.splits == ("valid", "test") and older.reference is None
    assert read_run_set(tmp_path) is None  # no marker: one run, or nothing yet


def test_a_damaged_record_is_one_line(tmp_path):
    (tmp_path / "watch.json").write_text("{not json")
    with pytest.raises(InputError, match="watch.json: unreadable .* the folder of a watch "
                                         "is damaged"):
        read_run_set(tmp_path)


@pytest.mark.parametrize("marker,held,then", [
    ("manifest.json", "a run", "continue it with `ppltop resume {}`"),
    ("watch.json", "a watch", "see it with `ppltop open {}`"),
    ("splits.json", "a run over splits", "see it with `ppltop open {}`"),
])
def test_a_held_run_directory_is_refused_in_one_wording(tmp_path, marker, held, then):
    (tmp_path / marker).write_text("{}")
    assert held_by(tmp_path) == held
    line = (f"--run-dir {tmp_path}: already holds {held}; {then.format(tmp_path)}, replace "
            "it with --overwrite, or choose another --run-dir")
    with pytest.raises(InputError) as refused:
        refuse_held(tmp_path, overwrite=False)
    assert str(refused.value) == line
    refuse_held(tmp_path, overwrite=True)  # --overwrite replaces it
    with pytest.raises(InputError) as again:  # a run set started there: the same line
        start_run_set(tmp_path, SplitsRecord(("valid", "test")))
    assert str(again.value) == line


def test_the_writer_refuses_a_run_set_folder_as_the_command_line_does(tmp_path):
    start_run_set(tmp_path, WatchRecord(("/a",)))
    with pytest.raises(InputError, match="already holds a watch"):
        RunWriter(tmp_path, Manifest(config={}, labels=["base"], data_file="test.jsonl"))


def test_the_command_line_refuses_a_watch_s_folder_before_loading(tmp_path):
    start_run_set(tmp_path, WatchRecord(("/a",)))
    out = run_ppltop("--run-dir", str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"ppltop: --run-dir {tmp_path}: already holds a watch; see it with `ppltop open "
        f"{tmp_path}`, replace it with --overwrite, or choose another --run-dir")
    assert "Traceback" not in out.stderr


def test_a_run_over_splits_keeps_its_reference_and_resumes_one_split_at_a_time(tmp_path):
    run_dir = tmp_path / "r"
    out = run_ppltop("--split", "valid,test", "--test-batches", "1", "--reference",
                     "docs-net", "--run-dir", str(run_dir))
    assert out.returncode == 0, out.stderr
    assert read_run_set(run_dir) == SplitsRecord(("valid", "test"), "docs-net",
                                                 read_run_set(run_dir).started)
    assert "(reference: docs-net)" in out.stdout
    done = run_ppltop("resume", str(run_dir))  # every split finished: nothing to do
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"ppltop: {run_dir} is a run over splits scored to its "
                                   f"end; nothing to resume, nothing changed; see it with: "
                                   f"ppltop open {run_dir}")
    events = run_dir / "test" / "events.jsonl"  # the test split as if cut short
    events.write_text("".join(line for line in events.read_text().splitlines(True)
                              if '"type": "finished"' not in line))
    (run_dir / "test" / "writer.json").unlink(missing_ok=True)
    left = run_ppltop("resume", str(run_dir))
    assert left.returncode == 2, left.stderr
    assert left.stderr.strip() == (f"ppltop: {run_dir}: a run over splits, one run per "
                                   "sub-folder: continue each on its own, first with: "
                                   f"ppltop resume {run_dir / 'test'}")


def test_runs_lists_a_run_set_beside_the_runs(tmp_path):
    """`ppltop runs` reads each run set through its record: its kind and its runs."""
    start_run_set(tmp_path / "both", SplitsRecord(("valid", "test")))
    for split in ("test", "valid"):
        (tmp_path / "both" / split).mkdir()
        (tmp_path / "both" / split / "manifest.json").write_text("{}")
    start_run_set(tmp_path / "w", WatchRecord(("/a",)))
    listing = run_ppltop("runs", str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines() == [
        f"both  splits      2 runs: valid, test; see them with: ppltop open {tmp_path / 'both'}",
        f"w     watch       no run yet; see them with: ppltop open {tmp_path / 'w'}",
    ]
