"""Models of different tokenizers in one run: the real model (SmolLM2's tokenizer) against
the bundled demo model (its own small one), compared per example in bits per byte.

Each model's per-example bits/byte must equal that of a run of the model alone, and the
paired Δ bits/byte with its interval must be what the core's one comparison function
(`compare.paired_comparison`) gives on those single runs' figures.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from support.cli import run_ppltop
from support.paths import REAL_DATA

pytest.importorskip("mlx.core")

MAX_LEN = 40
"""--max-seq-length of every run here: short examples, to stay fast on 2 CPU cores."""
REAL, DEMO = "smollm2-135m-f32", "model"
"""The labels: each model's folder name (the demo model's folder is `model`)."""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Four records of the real text data, in a folder of their own (as its valid split
    too)."""
    folder = tmp_path_factory.mktemp("tokenizers-data")
    lines = (REAL_DATA / "text" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    for split in ("test", "valid"):
        (folder / f"{split}.jsonl").write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    return folder


def _score(out: Path, *models: Path, data: Path, extra: tuple[str, ...] = ()):
    args = [a for m in models for a in ("--model", str(m))]
    proc = run_ppltop(*args, "--data", str(data), "--max-seq-length", str(MAX_LEN),
                      "--batch-size", "2", "--json", str(out / "figures.json"),
                      "--run-dir", str(out / "run"), *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads((out / "figures.json").read_text())


@pytest.fixture(scope="module")
def both(real_models, demo_model, data, tmp_path_factory):
    """`--model REAL --model DEMO`: (process, --json, run directory)."""
    out = tmp_path_factory.mktemp("both")
    proc, figures = _score(out, real_models.f32, demo_model, data=data)
    return proc, figures, out / "run"


@pytest.fixture(scope="module")
def alone(real_models, demo_model, data, tmp_path_factory) -> dict[str, Path]:
    """Each model scored alone: its run directory, by label."""
    runs = {}
    for label, model in ((REAL, real_models.f32), (DEMO, demo_model)):
        out = tmp_path_factory.mktemp(f"alone-{label}")
        _score(out, model, data=data)
        runs[label] = out / "run"
    return runs


def _results(run: Path, label: str):
    from ppltop.core.store.run_dir import read_run

    return read_run(run).results[label]


def test_each_example_bits_per_byte_equals_a_run_of_the_model_alone(both, alone):
    """Every example's bits/byte, per model, is the single-model run's, to the last bit;
    the two tokenizers read the same records into different numbers of tokens."""
    from ppltop.core.figures.byte_compare import example_bits_per_byte

    _, _, run = both
    for label in (REAL, DEMO):
        mine = example_bits_per_byte(_results(run / label, label))
        theirs = example_bits_per_byte(_results(alone[label], "base"))
        assert len(mine) == 4 and mine == theirs
    tokens = {label: sum(r.n_tokens for r in _results(run / label, label).values())
              for label in (REAL, DEMO)}
    assert tokens[REAL] != tokens[DEMO]


def test_delta_bits_per_byte_comes_from_the_one_comparison_function(both, alone):
    """The table and the JSON give the demo model's Δ bits/byte and its interval as
    `paired_comparison` computes them from the two single runs' per-example figures."""
    from ppltop.core.figures import formats as fmt
    from ppltop.core.figures.byte_compare import byte_arrays
    from ppltop.core.figures.compare import paired_comparison

    proc, figures, _ = both
    expected = paired_comparison(DEMO, REAL, *byte_arrays(_results(alone[DEMO], "base"),
                                                          _results(alone[REAL], "base")))
    rows = {row["label"]: row for row in figures["across_tokenizers"]}
    assert rows[REAL]["reference"] and not rows[DEMO]["reference"]
    assert rows[DEMO]["delta"] == expected.delta_loss
    assert rows[DEMO]["delta_ci95"] == list(expected.delta_ci95)
    assert rows[DEMO]["significant"] == expected.significant
    assert rows[DEMO]["examples"] == rows[REAL]["examples"] == 4
    for label in (REAL, DEMO):
        summary = next(s for s in figures["by_tokenizer"][label]["runs"])
        assert rows[label]["bits_per_byte"] == summary["bits_per_byte"]
    table = proc.stdout[proc.stdout.index("== across tokenizers"):]
    line = next(ln for ln in table.splitlines() if ln.startswith(DEMO + " "))
    lo, hi = expected.delta_ci95
    assert fmt.signed(expected.delta_loss) in line
    assert fmt.interval(lo, hi, sign=True) in line
    assert line.endswith(expected.verdict)


def test_the_run_directory_reads_back_as_scored(both):
    """`ppltop open` of the run prints the same table; each tokenizer's part is a run of
    its own, and `ppltop runs` names the kind."""
    proc, _, run = both
    assert json.loads((run / "tokenizers.json").read_text())["parts"] == [REAL, DEMO]
    opened = run_ppltop("open", str(run), "--headless")
    assert opened.returncode == 0, opened.stderr[-2000:]
    table = proc.stdout[proc.stdout.index("== across tokenizers"):]
    assert opened.stdout[opened.stdout.index("== across tokenizers"):] == table
    listed = run_ppltop("runs", str(run.parent))
    assert "tokenizers" in listed.stdout and f"ppltop open {run}" in listed.stdout


def test_several_splits_with_several_tokenizers_are_refused_in_one_line(real_models,
                                                                         demo_model, data):
    proc = run_ppltop("--model", str(real_models.f32), "--model", str(demo_model), "--data",
                      str(data), "--split", "valid,test")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ppltop: --split valid,test:"), proc.stderr


def test_characters_carry_each_models_surprisal_aligned_by_bytes(both, real_models,
                                                                  demo_model):
    """Each example aligns: both tokenizations spell the record's bytes; per character the
    shares of each model's tokens sum, over every character, to that model's surprisal of
    its scored tokens (special tokens have no bytes and no character)."""
    from mlx_lm.utils import load_tokenizer

    from ppltop.core.data.split import load_split
    from ppltop.core.data.token_text import TokenTexts
    from ppltop.view.byte_alignment import align

    _, figures, run = both
    data = Path(figures["data"])
    sides = {}
    for label, model in ((REAL, real_models.f32), (DEMO, demo_model)):
        tokenizer = load_tokenizer(Path(model))
        sides[label] = (load_split(data, "test", tokenizer, False).examples,
                        _results(run / label, label), TokenTexts(tokenizer))
    for i in range(4):
        (e_r, r_r, t_r), (e_d, r_d, t_d) = sides[REAL], sides[DEMO]
        aligned = align(i, (e_d[i], r_d[i], t_d), (e_r[i], r_r[i], t_r))
        assert aligned is not None
        doc = aligned.document
        text = "".join(doc.groups.text)
        assert text == json.loads((data / "test.jsonl").read_text().splitlines()[i])["text"]
        for bits, (examples, results, texts) in ((doc.bits, sides[DEMO]),
                                                 (doc.ref_bits, sides[REAL])):
            r = results[i]
            special = texts.special_mask(examples[i].tokens)[r.positions]
            scored = -r.logprob.astype(np.float64)[~special] / math.log(2)
            assert np.nansum(bits.astype(np.float64)) == pytest.approx(scored.sum(), rel=1e-5)
        assert len(doc.groups) == len(text)


def test_every_part_counts_the_weights_of_all_the_models_loaded(real_models, demo_model,
                                                                 data):
    """Every part's models stay loaded while the others score: a budget that one part's
    own weights fit in but not all of them together is refused, in one line, naming both."""
    proc = run_ppltop("--headless", "--model", str(real_models.f32), "--model",
                      str(demo_model), "--data", str(data), "--max-seq-length", str(MAX_LEN),
                      "--max-memory", "515M")
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "(the 2 models' weights together " in lines[0]


def test_each_parts_report_carries_the_table_across_tokenizers_and_links_the_others(both):
    """`ppltop report` writes a page per part; each has the printout's rows across the
    tokenizers (the figures of --json) and links to the other part's page."""
    _, figures, run = both
    proc = run_ppltop("report", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    want = {row["label"]: row for row in figures["across_tokenizers"]}
    for part, other in ((REAL, DEMO), (DEMO, REAL)):
        page = (run / part / "report.html").read_text(encoding="utf-8")
        section = page[page.index('<section id="tokenizers">'):]
        section = section[:section.index("</section>")]
        for label, row in want.items():
            shown = section[section.index(f'data-label="{label}"'):]
            shown = shown[:shown.index("</tr>")]
            delta = re.search(r'data-field="delta" data-value="([^"]*)"', shown).group(1)
            assert json.loads(html.unescape(delta)) == row["delta"]
            assert f'data-value="{row["examples"]}"' in shown
        link = re.search(r'<a href="([^"]+)">' + re.escape(other) + "</a>", section).group(1)
        assert (run / part / link).resolve() == (run / other / "report.html").resolve()
        assert f"{part} (this page)" in section
