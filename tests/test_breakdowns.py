"""Loss by group: the demo with its two adapters grouped by `source` shows the same figures
in the headless printout, `--json`, `groups.csv` and the dashboard's groups view, and they
equal the figures computed here from the per-token arrays of the run's exports. The role,
turn, template and position breakdowns are checked the same way on the chat and
prompt/completion demo data, with and without --mask-prompt."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import synthetic
from conftest import run_ppltop
from ppltop import demo
from ppltop.core.figures.stats import Z95
from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.core.store.replay import RunFollower
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.groups_screen import GroupsScreen, GroupTable
from ppltop.ui.screens.viewer_screen import ViewerScreen
from test_app_pilot import wait_for

LABELS = ["base", "docs-net", "docs-math"]


def score(folder, *flags) -> dict:
    out = run_ppltop(*flags, "--headless", "--json", str(folder / "out.json"),
                     "--run-dir", str(folder / "run"))
    assert out.returncode == 0, out.stderr
    return {"run": folder / "run", "stdout": out.stdout, "stderr": out.stderr,
            "json": json.loads((folder / "out.json").read_text())}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> dict:
    return score(tmp_path_factory.mktemp("groups"))  # the demo groups by source by default


def tokens_of(run, labels) -> dict[str, dict]:
    """Per label, the per-token arrays of its tokens-N-LABEL.npz export."""
    out = {}
    for n, label in enumerate(labels):
        with np.load(run / f"tokens-{n}-{label}.npz") as d:
            out[label] = {k: d[k] for k in ("example", "position", "logprob")}
    return out


def pieces_of(run) -> dict:
    with np.load(run / "pieces.npz") as d:
        arrays = {k: d[k] for k in d.files}
    raw = arrays["piece_bytes"].tobytes()
    offsets = arrays["piece_offsets"]
    arrays["pieces"] = [raw[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    return arrays


def token_lookup(pieces, key: str, tokens: dict) -> np.ndarray:
    """`pieces[key]` at each scored target (by example and position)."""
    where = {(int(e), int(p)): i for i, (e, p) in
             enumerate(zip(pieces["example"], pieces["position"]))}
    return np.array([pieces[key][where[(int(e), int(p))]]
                     for e, p in zip(tokens["example"], tokens["position"])])


def expected(tokens: dict, labels, reference: str, group_of: np.ndarray, n_bytes) -> dict:
    """{group: {label: figures}} from the per-token arrays alone."""
    out = {}
    for name in sorted(set(group_of.tolist())):
        mask = group_of == name
        per_label = {}
        for label in labels:
            t = tokens[label]
            ex = t["example"][mask]
            loss = -t["logprob"][mask].astype(np.float64)
            ids = np.unique(ex)
            sums = np.array([loss[ex == i].sum() for i in ids])
            counts = np.array([(ex == i).sum() for i in ids], dtype=np.float64)
            mean = sums.sum() / counts.sum()
            m = len(ids)
            se = math.sqrt(m / (m - 1) * ((sums - mean * counts) ** 2).sum()) / counts.sum() \
                if m > 1 else math.nan
            per_label[label] = {"tokens": int(mask.sum()), "examples": m, "loss": mean,
                                "ppl": math.exp(mean), "stderr": se,
                                "ppl_ci95": [math.exp(mean - Z95 * se), math.exp(mean + Z95 * se)],
                                "bits_per_byte": sums.sum() / math.log(2) / n_bytes[mask].sum()
                                if n_bytes[mask].sum() else math.nan,
                                "sums": sums, "counts": counts}
        ref = per_label[reference]
        for label in labels:
            if label == reference:
                continue
            f = per_label[label]
            f["delta_loss"] = f["loss"] - ref["loss"]
            # the paired difference's clustered standard error: what a bootstrap of the
            # examples in pairs estimates, to its resampling noise and skew
            diff = f["sums"] - ref["sums"]
            m = len(diff)
            f["delta_se"] = math.sqrt(m / (m - 1) * ((diff - f["delta_loss"] * f["counts"]) ** 2)
                                      .sum()) / f["counts"].sum() if m > 1 else math.nan
            f["win_share"] = float(np.mean(f["sums"] / f["counts"] < ref["sums"] / ref["counts"]))
        out[str(name)] = per_label
    return out


def check_breakdown(payload: dict, key: str, want: dict) -> None:
    b = next(b for b in payload["groups"]["breakdowns"] if b["key"] == key)
    assert {g["group"] for g in b["groups"]} == set(want)
    for g in b["groups"]:
        for f in g["labels"]:
            w = want[g["group"]][f["label"]]
            for k in ("tokens", "examples"):
                assert f[k] == w[k], (key, g["group"], f["label"], k)
            for k in ("loss", "ppl", "bits_per_byte"):
                if math.isnan(w[k]):  # no bytes: special tokens only
                    assert f[k] is None
                    continue
                assert f[k] == pytest.approx(w[k], rel=1e-6), (key, g["group"], k)
            if w["examples"] > 1 and math.isfinite(w["stderr"]) and w["stderr"] > 0:
                assert f["ppl_ci95"] == pytest.approx(w["ppl_ci95"], rel=1e-6)
            if f["comparison"] is not None:
                c = f["comparison"]
                assert c["delta_loss"] == pytest.approx(w["delta_loss"], abs=1e-9)
                _check_paired_interval(c["delta_ci95"], w["delta_loss"], w["delta_se"])
                assert c["win_share"] == pytest.approx(w["win_share"])


def _check_paired_interval(shown: list, delta: float, se: float) -> None:
    """The bootstrap's 95% interval of a paired Δloss brackets it, each end within a third
    of the normal interval's half-width of delta -+ Z95 * se (a bootstrap of the wrong
    pairs, or unpaired, is far wider or off-centre)."""
    lo, hi = shown
    if not (math.isfinite(se) and se > 0):
        return
    half = Z95 * se
    assert lo < delta < hi, (shown, delta)
    assert abs(lo - (delta - half)) < half / 3 and abs(hi - (delta + half)) < half / 3, \
        (shown, delta - half, delta + half)


def content_bytes(pieces, tokens) -> np.ndarray:
    special = token_lookup(pieces, "special", tokens)
    where = {(int(e), int(p)): i for i, (e, p) in
             enumerate(zip(pieces["example"], pieces["position"]))}
    lengths = np.array([len(pieces["pieces"][where[(int(e), int(p))]])
                        for e, p in zip(tokens["example"], tokens["position"])])
    return np.where(special, 0, lengths)


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
    from conftest import mlx_lm_evaluate

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
    import subprocess
    import sys
    import time
    import uuid

    from test_e2e_tmux import SOCKET, tmux

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
        subprocess.run(["tmux", "-L", SOCKET, "kill-session", "-t", session],
                       capture_output=True)
