"""The editor's draft file of one issue: written from the selection, read back as the editor left it.

```
---
subject: ""                  # optional: this issue's own subject
preheader: ""                # optional: its own inbox preview line
---
The intro, as Markdown paragraphs (optional).

<!-- articles: ... -->
- <id>  <title>              # one line per article, in issue order
```

Deleting a line leaves that article out, moving lines reorders, adding "- <id or URL>"
adds a stored article. Lines inside HTML comments are ignored (the articles held over are
listed in one, to be moved up into the list). Pure text in, text out: finding the articles
the lines name is the caller's business.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from newsletter.errors import DraftError
from newsletter.model import Article

MARKER = "<!-- articles"
KEYS = ("subject", "preheader")
_ITEM = re.compile(r"[-*+][ \t]+(.*\S)")
_TITLE_GAP = re.compile(r"\s{2,}|\t")  # between the id and the title: ids may hold single spaces
# The text part is the digest format: an intro paragraph opening like this would be read as an item's line.
_STRUCTURE = re.compile(r"(read more at\b|read more:|more about:)", re.I)


@dataclass(frozen=True)
class DraftLine:
    """One article line: its number in the file and what it may name (the id as written, then its first word)."""

    line: int
    refs: tuple[str, ...]


@dataclass(frozen=True)
class DraftFile:
    subject: str | None
    preheader: str | None
    intro: str  # Markdown
    lines: tuple[DraftLine, ...]


def _line(article: Article) -> str:
    return f"- {article.id}  {article.title}"


def format_draft(digest: str, key: str, cutoff: datetime, articles: Sequence[Article], held: Sequence[Article] = (),
                 *, subject: str | None = None, preheader: str | None = None) -> str:
    """The draft file of an issue: front matter, an empty intro, the articles in order, the held-over ones."""
    out = [
        "---",
        f"# The draft of {digest} {key}, cut off at {cutoff:%Y-%m-%d %H:%M %Z}. Once saved, build, send,",
        "# preview and the scheduled run use it until the issue goes out; delete the file to drop it.",
        f"subject: {json.dumps(subject or '', ensure_ascii=False)}        # empty: the digest's subject",
        f"preheader: {json.dumps(preheader or '', ensure_ascii=False)}      # empty: the first lede",
        "---",
        "",
        "<!-- intro: write the editor's note for the top of this issue here, in Markdown (or leave it out). -->",
        "",
        "<!-- articles: one per line, in issue order. Delete a line to leave that article out (it is not",
        "     offered again), move lines to reorder, add a line \"- <id or URL>\" to add a stored article. -->",
        *(_line(a) for a in articles),
    ]
    if held:
        out += ["", "<!-- held over: eligible, but the issue was full. Move a line up into the list to carry it now.",
                *(_line(a).replace("-->", "-- >") for a in held), "-->"]
    return "\n".join(out) + "\n"


def parse_draft(text: str, origin: str) -> DraftFile:
    """A draft file's subject, preheader, intro and article lines; DraftError naming the line otherwise."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, start = _front_matter(lines, origin)
    marker = next((i for i in range(start, len(lines)) if lines[i].strip().startswith(MARKER)), None)
    if marker is None:
        raise DraftError(f"has no line starting {MARKER!r} above the article list", where=origin,
                         hint="put it back: <!-- articles -->")
    intro = "\n".join(lines[start:marker]).strip()
    for index in range(start, marker):
        previous = lines[index - 1].strip() if index > start else ""
        if not previous and _STRUCTURE.match(lines[index].strip()):
            raise DraftError("an intro paragraph may not begin with 'Read more' or 'More about:' (the text part "
                             "would read it as an article's line)", where=f"{origin}:{index + 1}", hint="reword it")
    found: list[DraftLine] = []
    in_comment, opened = False, 0
    for index in range(marker, len(lines)):
        stripped = lines[index].strip()
        if in_comment or stripped.startswith("<!--"):
            if not in_comment:
                opened = index + 1
            in_comment = "-->" not in stripped[4:] if stripped.startswith("<!--") else "-->" not in stripped
            continue
        if not stripped:
            continue
        m = _ITEM.fullmatch(stripped)
        if m is None:
            raise DraftError(f"{stripped[:60]!r} is not an article line", where=f"{origin}:{index + 1}",
                             hint="write '- <id or URL>', or delete the line")
        head = _TITLE_GAP.split(m.group(1), maxsplit=1)[0]
        found.append(DraftLine(index + 1, tuple(dict.fromkeys([head, head.split()[0]]))))
    if in_comment:  # everything after it would be ignored without a word
        raise DraftError("has an HTML comment '<!--' that is never closed", where=f"{origin}:{opened}",
                         hint="end it with '-->'")
    return DraftFile(subject=_one_line(meta.get("subject")), preheader=_one_line(meta.get("preheader")),
                     intro=intro, lines=tuple(found))


def _front_matter(lines: list[str], origin: str) -> tuple[dict, int]:
    """The front matter as plain strings, and the index of the first line after it."""
    import yaml

    if not lines or lines[0].strip() != "---":
        return {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise DraftError("has front matter opened with '---' on line 1 that is never closed", where=origin,
                         hint="end it with a line '---'")
    try:
        # BaseLoader: every value stays the text as written ("2024" or "yes" is a subject too).
        meta = yaml.load("\n".join(lines[1:end]), Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 2}" if mark is not None else origin
        raise DraftError(f"has broken front matter: {getattr(exc, 'problem', None) or exc}", where=where,
                         hint='quote the value: subject: "..."') from None
    if not isinstance(meta, dict):
        raise DraftError("has front matter that is not 'key: value' lines", where=f"{origin}:2",
                         hint='e.g. subject: "This week in Iran"')
    for key, value in meta.items():
        number = next((i + 1 for i in range(1, end) if lines[i].lstrip().startswith(f"{key}:")), 2)
        if key not in KEYS:
            near = difflib.get_close_matches(str(key), KEYS, n=1)
            raise DraftError(f"has an unknown key {key!r} in its front matter", where=f"{origin}:{number}",
                             hint=f"did you mean {near[0]!r}?" if near else "use subject and preheader")
        if not isinstance(value, str):
            raise DraftError(f"{key} must be one line of text", where=f"{origin}:{number}",
                             hint=f'e.g. {key}: "..."')
    return meta, end + 1


def _one_line(value: str | None) -> str | None:
    """A subject or preheader as one line; None when empty (the digest's own is used)."""
    text = " ".join((value or "").split())
    return text or None
