"""The report in a real browser (Debian's headless `chromium`, over the DevTools protocol):
it loads with no console error and no request, its figures in the DOM are the `--json`
output's, hovering a token shows that token's probability, `n` jumps to the next surprising
token, and screenshots match the stored ones, within antialiasing but not a layout change.

Skipped, with the reason, where chromium is not installed (`.ci/run` installs it).
`PPLTOP_UPDATE_SCREENSHOTS=1` rewrites the stored screenshots (look at them first)."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest

from ppltop.core.store.run_dir import read_run
from support.headless_chromium import Chromium, find_chromium
from support.paths import DATA
from support.screenshot_compare import compare

# the demo run, scored once per session for both report test modules

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(apt-get install chromium; .ci/run does)")
STORED = DATA / "report"
MAX_SHARE = 0.01
"""Share of 8x8 blocks that may differ (a digit's last place, a glyph's antialiasing)."""


@pytest.fixture(scope="module")
def browser(demo_run):
    with Chromium(CHROMIUM, width=1200, height=900) as b:
        b.open(demo_run["page"].as_uri())
        yield b


def test_loads_with_no_console_error_and_no_request(browser, demo_run):
    assert browser.js("document.readyState") == "complete"
    assert browser.js("document.querySelectorAll('article.doc').length") >= 5
    assert browser.problems() == []
    assert browser.requests() == [demo_run["page"].as_uri()]


def _cells(browser, section: str) -> dict:
    return browser.js(f"""(() => {{
        const out = {{}};
        document.querySelectorAll('#{section} tr[data-label]').forEach(tr => {{
            const row = out[tr.dataset.label] = {{}};
            tr.querySelectorAll('[data-field]').forEach(td => {{
                row[td.dataset.field] = [JSON.parse(td.dataset.value), td.textContent];
            }});
        }});
        return out;
    }})()""")


def _field(record: dict, name: str):
    for part in name.split("."):
        record = record[part]
    return record


def test_summary_and_comparison_in_the_dom_are_the_jsons(browser, demo_run):
    payload = demo_run["json"]
    shown = _cells(browser, "summary")
    assert list(shown) == [r["label"] for r in payload["runs"]]
    for run in payload["runs"]:
        row = shown[run["label"]]
        assert len(row) >= 11
        for field, (value, _text) in row.items():
            assert value == _field(run, field), (run["label"], field)
        assert row["ppl"][1] == f"{run['ppl']:.6f}"
        assert row["loss"][1] == f"{run['loss']:.6f}"
        lo, hi = run["ppl_ci95"]
        assert row["ppl_ci95"][1] == f"[{lo:.3f}, {hi:.3f}]"
        assert row["mlx_lm.loss"][1] == f"{run['mlx_lm']['loss']:.6f}"
    compared = _cells(browser, "comparison")
    assert list(compared) == [c["label"] for c in payload["comparison"]]
    for c in payload["comparison"]:
        row = compared[c["label"]]
        for field, (value, _) in row.items():
            if field != "significant":
                assert value == c[field], (c["label"], field)
        lo, hi = c["delta_ci95"]
        assert row["delta_ci95"][1] == f"[{lo:+.4f}, {hi:+.4f}]"
        assert row["win_share"][1] == f"{c['win_share']:.0%}"


def _prob(logprob: float) -> str:
    """The terminal detail panel's format (ui/widgets/token_detail.py)."""
    p = math.exp(logprob)
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.2e}"


def test_hovering_a_token_shows_its_probability(browser, demo_run):
    scored = "document.querySelectorAll('article.doc .text > .t')"
    count = browser.js(f"{scored}.length")
    label = browser.js("JSON.parse(document.getElementById('report-data').textContent).label")
    records = read_run(demo_run["run"]).results[label]
    for k in range(5, count, count // 6):
        box = browser.js(f"""(() => {{ const s = {scored}[{k}];
            s.scrollIntoView({{block: 'center'}});
            const r = s.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2,
                    +s.closest('article').id.split('-')[1]]; }})()""")
        browser.hover(box[0], box[1])
        tip = browser.js("document.getElementById('tip').hidden ? null : "
                         "document.getElementById('tip').textContent")
        assert tip is not None, "the tooltip shows on hover"
        lines = tip.splitlines()
        example = box[2]
        assert f"{label}, example {example}" in lines
        at = next(i for i, line in enumerate(lines) if line.startswith("id "))
        position = int(lines[at].split()[-1])
        result = records[example]
        row = position - result.first
        token_id, logprob = int(result.targets[row]), float(result.logprob[row])
        assert lines[at] == f"id        {token_id}   position {position}"
        assert lines[at + 1] == f"prob      {_prob(logprob)}"
        assert lines[at + 2] == f"surprisal {-logprob / math.log(2):.3f} bits  {-logprob:.3f} nats"
        assert lines[at + 3] == f"rank      {int(result.rank[row])}"
        assert "the model preferred:" in lines
    browser.hover(5, 5)


def test_n_and_p_jump_between_surprising_tokens(browser):
    browser.js("window.scrollTo(0, 0); document.activeElement.blur()")
    browser.key("n")
    first = browser.js("(() => { const a = document.activeElement; return [a.matches('.h'), "
                       "Array.from(document.querySelectorAll('.doc .text > .h')).indexOf(a)]; })()")
    assert first == [True, 0]
    browser.key("n")
    assert browser.js("Array.from(document.querySelectorAll('.doc .text > .h'))"
                      ".indexOf(document.activeElement)") == 1
    assert browser.js("!document.getElementById('tip').hidden"), "focus shows the tooltip"
    browser.key("p")
    assert browser.js("Array.from(document.querySelectorAll('.doc .text > .h'))"
                      ".indexOf(document.activeElement)") == 0
    browser.key("Escape")
    assert browser.js("document.getElementById('tip').hidden")


def test_a_mode_switch_recolors_with_the_terminals_scale(browser):
    def background() -> str:
        return browser.js("getComputedStyle(document.querySelector("
                          "'article.doc .text > .t.r0')).backgroundColor")

    surprisal = background()
    browser.js("document.querySelector('.modes input[value=rank]').click()")
    assert browser.js("document.getElementById('documents').className") == "mode-rank"
    assert background() == "rgb(68, 1, 84)"  # ppltop-dark's scale, step 0: #440154
    browser.js("document.querySelector('.modes input[value=surprisal]').click()")
    assert background() == surprisal


def _clip(browser, selector: str, height: int) -> dict:
    browser.js(f"document.querySelector('{selector}').scrollIntoView()")
    top = browser.js(f"document.querySelector('{selector}').getBoundingClientRect().top "
                     "+ window.scrollY")
    return {"x": 0, "y": top, "width": 1200, "height": height, "scale": 1}


def _shoot(browser, selector: str, path: Path, height: int = 640) -> Path:
    import base64

    browser.js("document.getElementById('tip').hidden = true; document.activeElement.blur()")
    shot = browser.call("Page.captureScreenshot", {
        "format": "png", "clip": _clip(browser, selector, height),
        "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.mark.parametrize("name, selector", [("comparison", "#comparison"),
                                            ("documents", "#documents")])
def test_screenshot_matches_the_stored_one(browser, tmp_path, name, selector):
    pytest.importorskip("PIL", reason="Pillow compares screenshots (the test extra has it)")
    stored = STORED / f"{name}.png"
    now = _shoot(browser, selector, tmp_path / f"{name}.png")
    if os.environ.get("PPLTOP_UPDATE_SCREENSHOTS") == "1" or not stored.exists():
        STORED.mkdir(parents=True, exist_ok=True)
        shutil.copy(now, stored)
        pytest.skip(f"stored a new screenshot: {stored}; look at it, then rerun")
    difference = compare(stored, now)
    assert difference.same(MAX_SHARE), (
        f"{difference.share:.1%} of the blocks differ from {stored} (see {now})")


def test_the_comparison_fails_on_a_layout_change_not_on_antialiasing(browser, tmp_path):
    pytest.importorskip("PIL", reason="Pillow compares screenshots (the test extra has it)")
    stored = STORED / "documents.png"
    if not stored.exists():
        pytest.skip("no stored screenshot yet")
    # a fraction of a pixel: every glyph antialiased anew, the layout the same
    browser.js("document.getElementById('documents').style.transform = 'translateX(0.4px)'")
    nudged = compare(stored, _shoot(browser, "#documents", tmp_path / "nudged.png"))
    assert nudged.pixels > 0.03, "the nudge redrew the glyphs"
    assert nudged.same(MAX_SHARE), f"{nudged.share:.1%} of the blocks moved"
    # one line of text more at the top: everything below moves down
    browser.js("document.getElementById('documents').style.transform = '';"
               "document.querySelector('#documents > p').style.marginTop = '24px'")
    moved = compare(stored, _shoot(browser, "#documents", tmp_path / "moved.png"))
    browser.js("document.querySelector('#documents > p').style.marginTop = ''")
    assert not moved.same(MAX_SHARE), f"only {moved.share:.1%} of the blocks moved"
    # the same layout in other colors
    browser.js("document.querySelectorAll('.text > .t')"
               ".forEach(s => s.style.background = '#fde725')")
    recolored = compare(stored, _shoot(browser, "#documents", tmp_path / "recolored.png"))
    browser.js("document.querySelectorAll('.text > .t').forEach(s => s.style.background = '')")
    assert not recolored.same(MAX_SHARE), f"only {recolored.share:.1%} of the blocks changed"


def test_every_table_fits_the_page_at_1400_pixels(demo_run):
    """The groups' tables (a loss per label, then each adapter's Δloss, interval and wins)
    wrap their headers rather than run past the page or scroll."""
    with Chromium(CHROMIUM, width=1400, height=900) as wide:
        wide.open(demo_run["page"].as_uri())
        overflowing = wide.js("""(() => {
            const right = document.querySelector('main').getBoundingClientRect().right;
            return [...document.querySelectorAll('section table')]
                .filter(t => t.getBoundingClientRect().right > right + 1
                             || t.scrollWidth > t.clientWidth + 1)
                .map(t => t.closest('section').id + ': ' + t.rows[0].textContent);
        })()""")
    assert overflowing == [], overflowing
