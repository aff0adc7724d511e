"""Previews in the lists: an example's opening words, a token in its context; both from the
real demo tokenizer, and both what the viewer's tables show."""

from __future__ import annotations

from ppltop.ui.app import PplTopApp
from ppltop.view.previews import in_context, one_line, opening
from support import synthetic
from support.pilot import scored
from support.screen_text import screen_text


async def test_examples_show_their_opening_and_worst_tokens_their_context():
    app = PplTopApp(synthetic.document_events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot, "base")  # the one-label stream of document_events
        source = app.live.source
        texts = source.token_texts
        # the core: an opening is the start of the example's text, on one line, no <s>
        example = source.examples[5]
        whole = one_line(texts.text(example.tokens[1:]))
        first = opening(texts, example.tokens)
        assert whole.startswith(first) and first.startswith("tarfile.TarFile.__init__:")
        hit = app.live.index["base"].worst_tokens(1)[0]
        shown = in_context(texts, source.examples[hit.example].tokens, hit.position)
        line = one_line(texts.text(source.examples[hit.example].tokens))
        assert shown.before + shown.token + shown.after in line
        assert shown.token == one_line(texts.group_at(source.examples[hit.example].tokens,
                                                      hit.position).text)
        # the screen: the same strings, not re-made
        await pilot.press("v")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "opening" in text and "tarfile.TarFile.__init__: Open an" in text
        await pilot.press("right_square_bracket")
        await pilot.pause(0.3)
        rows = screen_text(app).splitlines()
        top = next(r for r in rows if r.lstrip().startswith(f"{hit.bits:.2f} "))
        assert "in context" in screen_text(app)
        assert shown.line()[:40] in top
    app = PplTopApp(synthetic.document_events, synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:  # at 80 columns: still a preview
        await scored(pilot, "base")  # the one-label stream of document_events
        await pilot.press("v")
        await pilot.pause(0.3)
        assert "<s>" not in screen_text(app)
        assert "tarfile.TarFile.__init__:" in screen_text(app)
