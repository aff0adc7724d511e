"""Loss by group: the demo with its two adapters grouped by `source` shows the same figures
in the headless printout, `--json`, `groups.csv` and the dashboard's groups view, and they
equal the figures computed here from the per-token arrays of the run's exports. The role,
turn, template and position breakdowns are checked the same way on the chat and
prompt/completion demo data, with and without --mask-prompt."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ppltop import demo
from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.core.store.replay import RunFollower
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.groups_screen import GroupsScreen, GroupTable
from ppltop.ui.screens.viewer_screen import ViewerScreen
from support import synthetic
from support.breakdowns import (
    check_breakdown,
    content_bytes,
    expected,
    pieces_of,
    score,
    token_lookup,
    tokens_of,
)
from support.cli import run_ppltop
from support.pilot import wait_for

LABELS = ["base", "docs-net", "docs-math"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> dict:
    return score(tmp_path_factory.mktemp("groups"))  # the demo groups by source by default


def test_source_groups_equal_the_per_token_arrays(demo_run):
    run = demo_run["run"]
    tokens = tokens_of(run, LABELS)
    records = [json.loads(line) for line in (demo.DATA_DIR / "test.jsonl").read_text()
               .splitlines() if line.strip()]
    source = np.array([records[int(e)]["source"] for e in tokens["base"]["example"]])
    want = expected(tokens, LABELS, "base", source,
                    content_bytes(pieces_of(run), tokens["base"]))
    check_breakdown(demo_run["json"], "source", want)
    # the story the demo tells: each adapter significantly better on its own slice
    b = demo_run["json"]["groups"]["breakdowns"][0]
    by = {g["group"]: {f["label"]: f for f in g["labels"]} for g in b["groups"]}
    for adapter, other in (("docs-net", "docs-math"), ("docs-net", "in-domain"),
                           ("docs-math", "docs-net"), ("docs-math", "in-domain")):
        own = by[adapter][adapter]["comparison"]
        assert own["significant"] and own["delta_loss"] < 0
        elsewhere = by[other][adapter]["comparison"]
        assert elsewhere["significant"] and elsewhere["delta_loss"] > 0


def test_position_and_template_groups_equal_the_per_token_arrays(demo_run):
    run = demo_run["run"]
    tokens = tokens_of(run, LABELS)
    pieces = pieces_of(run)
    nbytes = content_bytes(pieces, tokens["base"])
    position = tokens["base"]["position"]
    edges = np.array([16, 64, 256, 1024])
    names = np.array(["1-16", "17-64", "65-256", "257-1024", "1025+"])
    check_breakdown(demo_run["json"], "position",
                    expected(tokens, LABELS, "base", names[np.searchsorted(edges, position)],
                             nbytes))
    template = np.where(token_lookup(pieces, "template", tokens["base"]), "template",
                        "content")
    check_breakdown(demo_run["json"], "template",
                    expected(tokens, LABELS, "base", template, nbytes))


def printed_groups(stdout: str, title: str) -> dict[str, str]:
    table = stdout.split(f"== loss by {title}", 1)[1].split("\n== ", 1)[0]
    return {line.split()[0]: line for line in table.splitlines()[2:] if line.strip()}


def test_printout_and_groups_csv_show_the_json_figures(demo_run):
    rows = printed_groups(demo_run["stdout"], "record key 'source'")
    b = demo_run["json"]["groups"]["breakdowns"][0]
    csv_rows = list(csv.DictReader(open(demo_run["run"] / "groups.csv")))
    assert len(csv_rows) == sum(len(g["labels"]) for bd in demo_run["json"]["groups"]
                                ["breakdowns"] for g in bd["groups"])
    for g in b["groups"]:
        line = rows[g["group"]]
        for f in g["labels"]:
            row = next(r for r in csv_rows if r["breakdown"] == "source"
                       and r["group"] == g["group"] and r["label"] == f["label"])
            assert float(row["loss"]) == pytest.approx(f["loss"])
            c = f["comparison"]
            if c is None:
                assert f"{f['loss']:.4f}" in line
                continue
            lo, hi = c["delta_ci95"]
            cell = f"{c['delta_loss']:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            assert cell + (" *" if c["significant"] else "") in line
            assert float(row["delta_ci95_low"]) == pytest.approx(lo)


async def test_the_groups_view_shows_the_json_figures(demo_run):
    follower = RunFollower(demo_run["run"], follow=False)
    app = PplTopApp(with_breakdowns(follower.events, follower.config), synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen))
        screen = app.screen
        assert screen.breakdown.key == "source"
        b = demo_run["json"]["groups"]["breakdowns"][0]
        for label in LABELS:
            while screen.label != label:
                await pilot.press("l")
            table = screen.query_one(GroupTable)
            shown = {row[0]: row for row in table.fetch(0, table.row_count)}
            for g in b["groups"]:
                f = next(f for f in g["labels"] if f["label"] == label)
                row = shown[g["group"]]
                assert row[3] == f"{f['loss']:.4f}"
                if f["comparison"] is None:
                    assert row[4] == "ref"
                    continue
                lo, hi = f["comparison"]["delta_ci95"]
                assert row[4] == f"{f['comparison']['delta_loss']:+.4f}"
                assert row[5] == f"[{lo:+.4f}, {hi:+.4f}]"
                assert row[6] == ("*" if f["comparison"]["significant"] else "n.s.")
        await pilot.press("b")
        assert screen.breakdown.key == "template"
        await pilot.press("enter")  # the first group's examples, in the viewer
        await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen))
        members = demo_run["json"]["groups"]["breakdowns"][1]["groups"][0]["examples"]
        assert app.screen.index.example_order("index", False, app.screen._allowed).size \
            == members


ROLE_NAMES = {b"<|system|>": "system", b"<|user|>": "user", b"<|assistant|>": "assistant"}


def roles_of(pieces, tokens) -> np.ndarray:
    """The demo template's role of each scored target: that of the last role marker
    before it (the `<s>` before the first marker: the first marker's)."""
    role, current = {}, {}
    for e, p, piece in zip(pieces["example"], pieces["position"], pieces["pieces"]):
        e, p = int(e), int(p)
        if piece in ROLE_NAMES:
            if e not in current:
                role.update({(e, q): ROLE_NAMES[piece] for q in range(p)})
            current[e] = ROLE_NAMES[piece]
        role[(e, p)] = current.get(e)
    return np.array([role[(int(e), int(p))] for e, p in zip(tokens["example"],
                                                             tokens["position"])])


@pytest.mark.parametrize("data", ["data-chat", "data-completions"])
@pytest.mark.parametrize("mask", [False, True])
def test_role_turn_template_and_position_on_chat_data(tmp_path, data, mask):
    folder = demo.DATA_DIR.parent / data
    result = score(tmp_path, "--model", str(demo.MODEL_DIR), "--data", str(folder),
                   *(["--mask-prompt"] if mask else []))
    run = result["run"]
    tokens = tokens_of(run, ["base"])
    pieces = pieces_of(run)
    nbytes = content_bytes(pieces, tokens["base"])
    roles = roles_of(pieces, tokens["base"])
    check_breakdown(result["json"], "role", expected(tokens, ["base"], "base", roles, nbytes))
    keys = [b["key"] for b in result["json"]["groups"]["breakdowns"]]
    assert keys == ["role", "turn", "template", "position", "position-log2"]
    role_groups = {g["group"] for g in result["json"]["groups"]["breakdowns"][0]["groups"]}
    if mask:
        assert role_groups == {"assistant"}  # only the answers are scored
    else:
        assert {"user", "assistant"} <= role_groups
        assert ("system" in role_groups) == (data == "data-chat")
    turn = result["json"]["groups"]["breakdowns"][1]
    assert [g["group"] for g in turn["groups"]] == ["1"]  # one exchange per record
    template = np.where(token_lookup(pieces, "template", tokens["base"]), "template",
                        "content")
    check_breakdown(result["json"], "template",
                    expected(tokens, ["base"], "base", template, nbytes))
    log2 = np.array([f"{1 << k}-{(1 << (k + 1)) - 1}" if k else "1"
                     for k in np.floor(np.log2(tokens["base"]["position"])).astype(int)])
    check_breakdown(result["json"], "position-log2",
                    expected(tokens, ["base"], "base", log2, nbytes))
    assert "records have keys that look like groups: source" in result["stderr"]


def test_group_by_a_key_no_record_has_is_one_line_and_status_2():
    out = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                     "--group-by", "sorce", "--headless")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("ppltop: --group-by sorce: no record")
    assert "Traceback" not in out.stderr


def test_the_source_key_does_not_change_mlx_lms_figure(tmp_path):
    from support.mlx_lm_reference import mlx_lm_evaluate

    records = [json.loads(line) for line in (demo.DATA_DIR / "test.jsonl").read_text()
               .splitlines() if line.strip()]
    assert all("source" in r for r in records)
    bare = tmp_path / "test.jsonl"
    bare.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in records))
    with_key = mlx_lm_evaluate(demo.MODEL_DIR, demo.DATA_DIR / "test.jsonl")
    assert with_key == mlx_lm_evaluate(demo.MODEL_DIR, bare)


def test_live_breakdowns_come_from_the_same_function(demo_run):
    """A run followed live, before its finished event, shows what the JSON says."""
    from ppltop.core.store.events import RunFinished
    from ppltop.view.live import LiveRun

    follower = RunFollower(demo_run["run"], follow=False)
    live = LiveRun()
    for event in with_breakdowns(follower.events, follower.config)():
        if not isinstance(event, RunFinished):
            live.apply(event)
    assert live.finished is None
    found = json.loads(json.dumps(live.breakdowns().to_dict()))
    assert found == demo_run["json"]["groups"]


def test_ppltop_open_prints_the_same_groups(demo_run, tmp_path):
    out = run_ppltop("open", str(demo_run["run"]), "--headless", "--json",
                     str(tmp_path / "open.json"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("== loss by", 1)[1] == demo_run["stdout"].split("== loss by", 1)[1]
    assert json.loads((tmp_path / "open.json").read_text())["groups"] == \
        demo_run["json"]["groups"]


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed")
def test_the_groups_view_in_tmux_at_80x24(demo_run, tmp_path):
    """`ppltop open RUN` in a real 80x24 terminal: g, l show docs-net's Δloss per source."""
    import sys
    import time
    import uuid

    from support.tmux import kill_session, tmux

    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
         f"cd {tmp_path} && {sys.executable} -m ppltop open {demo_run['run']}; sleep 60")

    def screen_with(text: str) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if text in screen:
                return screen
            time.sleep(0.3)
        raise AssertionError(f"{text!r} not on screen:\n{screen}")

    try:
        screen_with("finished")
        tmux("send-keys", "-t", session, "g")
        screen_with("by record key 'source'")
        tmux("send-keys", "-t", session, "l")
        screen = screen_with("docs-net vs base")
        b = demo_run["json"]["groups"]["breakdowns"][0]
        for g in b["groups"]:
            c = next(f for f in g["labels"] if f["label"] == "docs-net")["comparison"]
            lo, hi = c["delta_ci95"]
            row = next(line for line in screen.splitlines() if f"│{g['group']} " in line)
            assert f"{c['delta_loss']:+.4f}  [{lo:+.4f}, {hi:+.4f}]" in row
        tmux("send-keys", "-t", session, "q")
    finally:
        kill_session(session)
