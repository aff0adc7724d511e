"""The columns and cells of the surprisal viewer's lists: examples, worst tokens and loss
by token, each row built from the core's `SurprisalIndex` rows for the page on screen."""

from __future__ import annotations

from ..core.figures import formats as fmt
from ..view.previews import in_context, opening
from .token_cells import token_at
from .widgets.paged_table import Column

PREVIEW_WIDTH = 24
"""The least width of a preview column; it takes the width the figures leave."""
EXAMPLE_COLUMNS = [Column("#", 5, "index"), Column("line", 5, hide_rank=3),
                   Column("tokens", 6, "tokens"), Column("mean nats", 9, "mean_loss"),
                   Column("total nats", 10, "total_loss", hide_rank=2),
                   Column("worst bits", 10, "worst_bits"),
                   Column("worst token", 16, align="left", hide_rank=1),
                   Column("opening", PREVIEW_WIDTH, align="left", grow=True)]
WORST_COLUMNS = [Column("bits", 7), Column("token", 16, align="left"), Column("rank", 7),
                 Column("ex", 5), Column("pos", 6),
                 Column("in context", PREVIEW_WIDTH, align="left", grow=True)]
GROUP_COLUMNS = [Column("token", 28, align="left"), Column("count", 8, "count"),
                 Column("mean bits", 9, "mean_bits"), Column("total bits", 11, "total_loss"),
                 Column("share", 7)]


def example_count(shown: int, total: int, needle: str) -> str:
    """How many examples the list shows: all, or how many the filter `needle` (or the group
    the viewer was opened on) keeps; and the list's keys."""
    if needle:
        words = f"{fmt.count(shown)} of {fmt.plural(total, 'example')} match '{needle}'"
    elif shown != total:
        words = f"{fmt.count(shown)} of {fmt.plural(total, 'example')}"
    else:
        words = fmt.plural(total, "example")
    return f"{words} · s: sort by the next column, r: reverse"


def example_cells(source, rows) -> list[list[str]]:
    """`SurprisalIndex.example_rows`: index, line, tokens, losses, the worst token and the
    example's opening."""
    out = []
    for r in rows:
        tokens = source.examples[r.index].tokens
        out.append([str(r.index), str(source.examples[r.index].line), str(r.tokens),
                    fmt.number(r.mean_loss, 3), fmt.number(r.total_loss, 1),
                    fmt.number(r.worst_bits, 2), token_at(source, r.index, r.worst_position),
                    opening(source.token_texts, tokens)])
    return out


def worst_cells(source, index, hits) -> list[list[str]]:
    """`TokenHit`s: bits, the token, its rank, where it is and its context."""
    out = []
    for hit in hits:
        result = index.results[hit.example]
        rank = int(result.rank[hit.position - int(result.positions[0])])
        tokens = source.examples[hit.example].tokens
        out.append([fmt.number(hit.bits, 2),
                    token_at(source, hit.example, hit.position, hit.template),
                    str(rank), str(hit.example), str(hit.position),
                    in_context(source.token_texts, tokens, hit.position).line()])
    return out


def group_cells(groups, piece, total_loss: float) -> list[list[str]]:
    """`TokenAggregate`s: the token as shown (`piece(token_id)`), its count, bits and share
    of the total loss."""
    return [[piece(g.token_id), str(g.count), fmt.number(g.mean_bits, 2),
             fmt.number(g.total_bits, 1), fmt.share(g.total_loss / total_loss, 1)]
            for g in groups]
