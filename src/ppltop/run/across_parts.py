"""What a run set of several parts says across them once its parts are scored, headless and
at the dashboard's end alike, by its record: over splits the labels side by side, over
several tokenizers the labels in bits per byte against the reference; and its --json and
--csv."""

from __future__ import annotations

from ..core.store.records import TokenizersRecord


def across_text(record, finished: dict, each: bool = True) -> str:
    """Each part's figures under its title (`each`), then the labels across the parts."""
    from ..headless import render_figures, render_split_figures

    if not isinstance(record, TokenizersRecord):
        return render_split_figures(finished, each) if each or len(finished) > 1 else ""
    from ..tokenizer_table import render_tokenizers

    parts = [f"== {record.PART_KIND} {name} ==\n{render_figures(f)}"
             for name, f in finished.items()] if each else []
    parts.append(render_tokenizers(tokenizer_rows(record, finished)))
    return "".join(parts)


def tokenizer_rows(record: TokenizersRecord, finished: dict) -> list:
    """The labels of every part scored, against the reference in bits per byte (none
    while the reference's part has not finished)."""
    from ..core.figures.byte_compare import across_reference, byte_rows

    reference = across_reference(record.reference, [label for f in finished.values()
                                                    for label in f.results])
    if reference is None:
        return []
    return byte_rows({name: (f.summaries, f.results) for name, f in finished.items()},
                     reference)


def write_across_outputs(request, config, record, finished: dict, blas) -> None:
    """--json, --csv and each part's groups.csv of a run set of several parts."""
    from .outputs import write_split_outputs

    across = tokenizer_rows(record, finished) if isinstance(record, TokenizersRecord) else None
    write_split_outputs(request, config, finished, blas, across)
