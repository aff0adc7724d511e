"""`ppltop report`: one self-contained page, bounded in size, from the core's objects;
bad input is one line and status 2; the package stays free of textual and rich; the
dashboard's `H` writes the report of the run on screen. (The page in a real browser:
test_report_browser.py.)"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys

import pytest

from ppltop.core.store.replay import RunFollower
from ppltop.report import ReportLimits, read_report_run, render_page
from ppltop.ui.app import PplTopApp
from support.cli import run_ppltop
from support.pilot import wait_for
from support.report import open_report

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["'](?!#)|url\(|@import""", re.IGNORECASE)
"""What would make a browser fetch something: a link that is not an anchor, a CSS import."""


def test_the_page_asks_for_nothing_outside_itself(demo_run):
    page = open_report(demo_run["page"])
    assert page.startswith("<!DOCTYPE html>")
    assert not EXTERNAL.findall(page), EXTERNAL.findall(page)[:5]
    assert "default-src 'none'" in page  # the browser refuses any request the page might make
    assert "<script>" in page and "<style>" in page


def test_the_page_shows_the_runs_own_figures(demo_run):
    page = open_report(demo_run["page"])
    for run in demo_run["json"]["runs"]:
        assert f'data-label="{run["label"]}"' in page
        assert f'data-value="{run["ppl"]}"' in page
        assert html.escape(f"Test loss {run['mlx_lm']['loss']:.3f}") in page
        for reason in run["explanation"]:
            assert html.escape(reason) in page
    for c in demo_run["json"]["comparison"]:
        assert f'data-value="{c["delta_loss"]}"' in page
    manifest = read_report_run(demo_run["run"]).manifest
    assert manifest["model_fingerprint"] in page and manifest["data_sha256"] in page
    assert f"mlx {manifest['mlx']}" in page


def test_documents_beyond_the_bound_are_summarized_and_named(demo_run):
    report = read_report_run(demo_run["run"])
    whole = render_page(report)
    limits = ReportLimits(worst_documents=6, list_rows=5, doc_tokens=60, total_tokens=200)
    page = render_page(report, limits)
    shown = re.findall(r'<article class="doc" id="ex-(\d+)"', page)
    assert 1 <= len(shown) < 6
    assert "Left out by the size bound" in page
    assert re.search(r"tokens \d+–\d+ of \d+ shown \(the size bound\)", page)
    spans = len(re.findall(r"<span class=", page.split('id="documents"')[1]))
    assert spans <= 200 + 40  # groups of the windows, plus the legend's swatches
    assert len(page) < len(whole)
    # a million tokens stay a few MB: the document views hold at most total_tokens tokens
    per_token = (len(whole) - len(page)) / _tokens_shown(whole, page)
    rest = len(page) - 200 * per_token  # what does not grow with the run: lists, sections
    assert ReportLimits().total_tokens * per_token + rest < 5e6, f"{per_token:.0f} B/token"


def _tokens_shown(whole: str, small: str) -> int:
    def count(page: str) -> int:
        return len(re.findall(r'<span class="[^"]*"(?: id="[^"]*")?>',
                              page.split('id="documents"')[1]))
    return count(whole) - count(small)


def test_worst_lists_link_to_documents_on_the_page(demo_run):
    page = open_report(demo_run["page"])
    ids = set(re.findall(r'id="([^"]+)"', page))
    links = re.findall(r'href="#([^"]+)"', page)
    assert len(links) > 10
    assert not [link for link in links if link not in ids], "every link lands on the page"
    assert re.search(r'href="#e\d+p\d+"', page), "worst tokens link to the token itself"


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/run"], "no such run directory"),
    (["RUN", "--label", "nope"], "--label nope: not a label of this run"),
    (["RUN", "--examples", "9999"], "--examples 9999: the split has 51 examples"),
    (["RUN", "--examples", "a,b"], "expected whole numbers"),
    (["RUN", "--theme", "neon"], "--theme neon: not a built-in theme"),
    (["RUN", "-o", "/nonexistent/dir/r.html"], "cannot write"),
])
def test_bad_input_is_one_line_and_status_2(demo_run, args, message):
    args = [str(demo_run["run"]) if a == "RUN" else a for a in args]
    out = run_ppltop("report", *args)
    assert out.returncode == 2
    assert message in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_not_a_run_directory(tmp_path):
    out = run_ppltop("report", str(tmp_path))
    assert out.returncode == 2 and "not a ppltop run directory" in out.stderr


def test_the_report_package_imports_no_textual_or_rich():
    code = ("import sys, ppltop.report; "
            "print(','.join(m for m in ('textual', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PPLTOP_BLAS": "bundled"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


async def test_the_dashboards_key_writes_the_report_of_the_run_on_screen(demo_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run["run"], run)
    follower = RunFollower(run, follow=False)
    app = PplTopApp(follower.events, {}, watching=True, run_dir=run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.press("H")
        await wait_for(pilot, lambda: (run / "report.html").exists(), timeout=120)
        await wait_for(pilot, lambda: any("report written" in n.message
                                          for n in app._notifications), timeout=30)
        await pilot.press("q")
    page = (run / "report.html").read_text()
    for summary in app.live.finished.summaries:
        assert f'data-value="{summary.ppl!r}"' in page


def _cjk_report(folder, **kw):
    from ppltop.report.gather import RunReport
    from ppltop.view.live import LiveRun
    from support import synthetic

    live = LiveRun()
    for event in synthetic.cjk_events(folder, **kw):
        live.apply(event)
    return RunReport(folder, {}, live, "base")


def test_a_character_split_over_tokens_is_one_span_with_each_tokens_figures(tmp_path):
    from ppltop.report.documents import choose_documents, render_document

    report = _cjk_report(tmp_path)
    shown = next(d for d in choose_documents(report, ReportLimits()).shown
                 if any(len(d.document.groups.tokens_of(g)) > 1
                        for g in range(len(d.document.groups))))
    spans, data = render_document(shown, 7, {}, report.live.source.token_texts, set())
    groups = shown.document.groups
    texts = re.findall(r"<span[^>]*>([^<]*)</span>", spans)
    assert len(texts) == len(groups) == len(data["groups"])
    split = [g for g in range(len(groups)) if len(groups.tokens_of(g)) > 1]
    assert len(split) >= 3, "the tiny tokenizer splits CJK characters"
    for g in split:
        assert texts[g] == groups.text[g]  # the characters the tokens' bytes make, whole
        assert texts[g].encode() == b"".join(groups.raw[p] for p in groups.tokens_of(g))
        bits, tokens = data["groups"][g]
        assert [t[0] for t in tokens] == list(groups.tokens_of(g))
        whole = float(shown.document.group_bits[g])  # NaN unless every token is scored
        assert bits == (pytest.approx(whole, abs=1e-4) if whole == whole else None)
    assert "\ufffd" not in spans and "<0x" not in spans


async def test_tokens_take_the_terminals_color_step_in_every_mode(tmp_path):
    from ppltop.report.documents import choose_documents, render_document
    from ppltop.ui.screens.document_screen import DocumentScreen
    from ppltop.ui.widgets.document_view import DocumentView
    from support import synthetic

    report = _cjk_report(tmp_path)
    shown = choose_documents(report, ReportLimits()).shown[0]
    app = PplTopApp(lambda: synthetic.cjk_events(tmp_path / "app"), synthetic.INFO)
    (tmp_path / "app").mkdir()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.live.index.get("base") or ()) > 0)
        app.push_screen(DocumentScreen(app.live, "base", shown.example))
        await pilot.pause(0.3)
        view = app.screen.query_one(DocumentView)
        top = len(view._scale_styles()) - 1
        spans, _ = render_document(shown, top, {}, report.live.source.token_texts, set())
        classes = re.findall(r'<span class="([^"]*)"', spans)
        for mode, letter in (("surprisal", "s"), ("rank", "r"), ("entropy", "e")):
            view.mode = mode
            for g, names in enumerate(classes):
                step = view.group_step(g)
                in_page = next((int(c[1:]) for c in names.split() if c[0] == letter
                                and c[1:].isdigit()), None)
                if names in ("m", "w"):  # template and whitespace: styled apart in both
                    continue
                assert in_page == step, (mode, g, names, step)


def test_template_tokens_and_a_masked_prompt_are_set_apart_as_in_the_app(tmp_path):
    from ppltop.report.documents import choose_documents, group_classes
    from ppltop.view.document import PROMPT

    report = _cjk_report(tmp_path, chat=True, mask_prompt=True)
    assert report.live.hide_template  # as the dashboard's lists, by default for such data
    doc = choose_documents(report, ReportLimits()).shown[0].document
    groups = doc.groups
    kinds = [group_classes(doc, g, 7) for g in range(len(groups))]
    template = [g for g in range(len(groups)) if groups.is_template_group(g)]
    prompt = [g for g in range(len(groups)) if not groups.is_template_group(g)
              and not groups.whitespace[g] and doc.group_kind(g) == PROMPT]
    assert template and prompt
    assert all(kinds[g] == "m" for g in template)  # italic, as the app's template style
    assert all(kinds[g] == "u" for g in prompt)  # dimmed: not scored under --mask-prompt
    assert any(k.startswith("t ") for k in kinds)


def test_the_breakdowns_are_the_jsons_per_group(demo_run):
    """Each group's loss per label and paired Δloss against the reference, as `--json` has
    them (by position and by template/content here; the same rows for a record key)."""
    page = open_report(demo_run["page"])
    groups = demo_run["json"]["groups"]
    assert {b["key"] for b in groups["breakdowns"]} >= {"position", "template"}
    for b in groups["breakdowns"]:
        for g in b["groups"]:
            found = re.search(rf'<tr data-breakdown="{re.escape(b["key"])}" '
                              rf'data-group="{re.escape(html.escape(g["group"]))}">(.*?)</tr>',
                              page)
            assert found, (b["key"], g["group"])
            cells = found.group(1)
            for f in g["labels"]:
                assert f'data-field="loss" data-value="{json.dumps(f["loss"])}"' in cells
                c = f["comparison"]
                if c is not None:
                    assert f'data-value="{json.dumps(c["delta_loss"])}"' in cells
                    assert html.escape(json.dumps(c["delta_ci95"])) in cells


def test_chart_ticks_are_round_and_no_change_reads_minus_zero(demo_run):
    """The report writes figures as the printout does (`core.figures.formats`): axis ticks
    at round steps (not 48.5, 59.7 or -0.0487), no `-0.0000`, tokens counted with commas."""
    import math

    page = open_report(demo_run["page"])
    ticks = re.findall(r'<text class="tick"[^>]*text-anchor="middle">([^<]+)</text>', page)
    assert ticks
    for chart in re.findall(r'<svg class="chart".*?</svg>', page):
        values = [float(t) for t in re.findall(
            r'<text class="tick"[^>]*text-anchor="middle">([^<]+)</text>', chart)]
        step = values[1] - values[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), values
    assert "-0.0000" not in page and "-0.000<" not in page


def test_the_dashboards_names_and_reference_carry_into_the_report(demo_run, tmp_path):
    """Issue #21, 3: the report the dashboard writes (`H`) shows the names and the
    reference chosen in the comparison view (`e`, `f`), as the panes and the printout do."""
    from ppltop.report import write_report
    from ppltop.view.display_names import LabelNames

    names = LabelNames({"docs-math": "maths"}, reference="docs-math")
    page = write_report(demo_run["run"], tmp_path / "named.html", names=names).read_text()
    assert "<h2>Comparison against maths</h2>" in page
    assert "Δloss against maths, paired" in page
    assert '<th scope="row">maths</th>' in page and '<th scope="row">docs-math</th>' not in page
    assert "<th>loss maths</th>" in page or "loss maths" in page
    plain = open_report(demo_run["page"])  # from a shell: the run's own labels and reference
    assert "<h2>Comparison against base</h2>" in plain and "maths" not in plain
