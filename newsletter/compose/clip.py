"""The clip guard: an issue whose HTML would be clipped by Gmail loses quotations, last items first.

Gmail cuts the HTML part off past about 102 KB, footer and unsubscribe link included, behind a
"[Message clipped]" link most readers never press. Rather than that, the email keeps every
item's headline, lede and links and drops the quoted passages of the last items until it fits;
the text part and the web version keep everything, and a note says what was left out.
"""

from __future__ import annotations

from typing import Callable, Sequence

from newsletter.compose.context import without_quotations
from newsletter.model import Article

KB = 1024
# Under the 90 KB where `newsletter check` starts to warn (Gmail clips at 102 KB), with room for
# each recipient's own unsubscribe token and for what mail servers add on the way.
CLIP_BUDGET = 88 * KB
FIRST_GUESS = 1.5  # inlined styles make each byte of a quotation's HTML about this many in the email


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


def _quote_bytes(article: Article) -> int:
    return _size(article.body) - _size(without_quotations(article.body))


def fit(articles: Sequence[Article], render: Callable[[frozenset[int]], str], full: str) -> tuple[str, list[int]]:
    """The HTML under CLIP_BUDGET if dropping quotations can get it there (else as small as they allow),
    and the indexes of the items that lost theirs. `render(trimmed)` renders and inlines the issue."""
    quoted = [i for i, article in enumerate(articles) if _quote_bytes(article)]
    trimmed: list[int] = []
    html, size, factor = full, _size(full), FIRST_GUESS
    while size > CLIP_BUDGET and quoted:
        need, batch = size - CLIP_BUDGET, []
        while quoted and need > 0:
            batch.append(quoted.pop())  # the last items first: the top of an issue matters most
            need -= _quote_bytes(articles[batch[-1]]) * factor
        trimmed += batch
        smaller = render(frozenset(trimmed))
        removed = sum(_quote_bytes(articles[i]) for i in batch)
        factor = max((size - _size(smaller)) / removed, 0.1)  # learn the real ratio for the next round
        html, size = smaller, _size(smaller)
    return html, sorted(trimmed)


def clip_note(articles: Sequence[Article], full: str, html: str, trimmed: list[int]) -> str:
    """What the guard did, in one line."""
    titles = [articles[i].title for i in trimmed]
    shown = ", ".join(f"\u201c{t}\u201d" for t in titles[:3]) + (f" and {len(titles) - 3} more" if len(titles) > 3 else "")
    note = (f"the HTML would be {_size(full) / KB:.1f} KB, near Gmail's clipping point (102 KB): the quotations of "
            f"{len(titles)} item{'s' if len(titles) != 1 else ''} ({shown}) are left out of the email; its text "
            f"part keeps them")
    if _size(html) > CLIP_BUDGET:
        note += f"; it is still {_size(html) / KB:.1f} KB: an issue of fewer items would fit"
    return note
