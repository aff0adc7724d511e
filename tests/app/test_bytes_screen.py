"""The bytes screen (`b`) of a run over two tokenizers: one example character by character,
colored by the change in surprisal against the reference, each character's share of the
token covering it under each model. From a fixed event stream (the demo examples under the
demo model's and the real model's tokenizers, made-up numbers), so it is the same on every
machine; snapshots at 80x24 and 120x40, dark and NO_COLOR."""

from __future__ import annotations

import pytest

from ppltop.ui.app import PplTopApp
from support import synthetic
from support.pilot import settle, wait_for

pytestmark = pytest.mark.usefixtures("fixed_memory")


def _app(real_models, reference: str | None = None) -> PplTopApp:
    return PplTopApp(lambda: synthetic.tokenizer_events(real_models.f32, reference),
                     synthetic.INFO, theme="ppltop-dark", split="test")


async def _open(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: len(app.runs.by_split()) == 2 and app.live.finished)
    await pilot.press("b")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "BytesScreen")
    await settle(pilot)


@pytest.mark.parametrize("no_color", [False, True], ids=["dark", "NO_COLOR"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_bytes_screen(snap_compare, monkeypatch, real_models, size, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)

    async def open_and_move(pilot):
        await _open(pilot)
        await pilot.press("right", "right", "right")
        await settle(pilot)

    assert snap_compare(_app(real_models), terminal_size=size, run_before=open_and_move)


async def test_examples_follow_delta_bits_per_byte_and_characters_sum_to_tokens(real_models):
    """The screen orders the examples by Δ bits/byte (the core's per-example figure), `]`
    and `[` walk them, `m` switches diff and surprisal, and the characters of each model
    carry the bits of its scored tokens, special tokens aside."""
    import numpy as np

    from ppltop.core.figures.byte_compare import example_bits_per_byte

    app = _app(real_models)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot)
        screen = app.screen
        smollm2, demo = (app.runs.by_split()[name] for name in ("smollm2", "demo"))
        assert screen.candidate.label == "smollm2" and screen.reference.label == "demo"
        mine = example_bits_per_byte(smollm2.index["smollm2"].results)
        theirs = example_bits_per_byte(demo.index["demo"].results)
        deltas = [mine[i] - theirs[i] for i in screen.order]
        assert deltas == sorted(deltas, reverse=True) and len(deltas) == 6
        first = screen.order[0]
        await pilot.press("right_square_bracket")
        assert screen.order[screen.at] == screen.order[1]
        await pilot.press("left_square_bracket")
        assert screen.order[screen.at] == first
        doc = screen.aligned.document
        result = smollm2.index["smollm2"].results[first]
        texts = smollm2.source.token_texts
        special = texts.special_mask(smollm2.source.examples[first].tokens)[result.positions]
        scored = -result.logprob.astype(np.float64)[~special] / np.log(2)
        assert np.nansum(doc.bits.astype(np.float64)) == pytest.approx(scored.sum(), rel=1e-5)
        view = screen.query_one("#bytes-view")
        assert view.mode == "diff"
        await pilot.press("m")
        assert view.mode == "surprisal"
        await pilot.press("m")
        assert view.mode == "diff"
        await pilot.press("escape")
        assert type(app.screen).__name__ != "BytesScreen"


async def test_the_reference_is_the_one_the_run_was_given(real_models):
    """With `--reference` naming the second part's model, the screen compares the first
    part's with it, as the table across the tokenizers does."""
    app = _app(real_models, reference="smollm2")
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot)
        assert app.screen.candidate.label == "demo" and app.screen.reference.label == "smollm2"
