"""Just enough CSS parsing for the checks: style attributes, and <style> sheets into rules and at-rules.

Written here rather than taken from cssutils because cssutils normalizes what it reads (case,
spacing, `!important`) and that is exactly what some clients stumble on; and it is slow on the
thousand style attributes of a long issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMMENTS = re.compile(r"/\*.*?\*/", re.S)
_IMPORTANT = re.compile(r"!\s*important\s*$", re.I)


@dataclass(frozen=True)
class Declaration:
    """`property: value [!important]`, property in lower case, value as written."""

    property: str
    value: str
    important: bool
    raw: str


@dataclass
class Rule:
    """A style rule (`selector`), or an at-rule (`at`: "media (max-width: 600px)") with nested rules."""

    selector: str | None = None
    at: str | None = None
    declarations: list[Declaration] = field(default_factory=list)
    rules: list["Rule"] = field(default_factory=list)

    @property
    def at_name(self) -> str:
        """'media', 'font-face', 'import'... ('' for a style rule)."""
        return self.at.split(None, 1)[0].lstrip("@").lower() if self.at else ""


_PLAIN = re.compile(r"[\"'(\[\\]")


def _unquoted(text: str, start: int = 0):
    """(index, character) of each character of `text` from `start` on that is not inside a quoted string."""
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        else:
            yield i, ch
        i += 1


def _split(text: str, separators: str):
    """(piece, separator) pairs of `text` cut at any of `separators` outside quotes and parentheses."""
    if not _PLAIN.search(text):  # the common case, and the thousands of style attributes of a long issue
        pieces = re.split(f"([{re.escape(separators)}])", text)
        yield from zip(pieces[0::2], pieces[1::2] + [""])
        return
    depth, start = 0, 0
    for i, ch in _unquoted(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif depth == 0 and ch in separators:
            yield text[start:i], ch
            start = i + 1
    yield text[start:], ""


def declarations(style: str) -> list[Declaration]:
    """The declarations of a style attribute or rule body, in order."""
    out = []
    for piece, _ in _split(style or "", ";"):
        name, colon, value = piece.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            continue
        value = value.strip()
        important = bool(_IMPORTANT.search(value))
        if important:
            value = _IMPORTANT.sub("", value).strip()
        out.append(Declaration(name, value, important, piece.strip()))
    return out


def _block_end(text: str, start: int) -> int:
    """The index of the brace closing the block that opens just before `start` (or the end of the text)."""
    depth = 1
    for i, ch in _unquoted(text, start):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


# At-rules whose block holds rules (the others hold declarations or keyframes).
_GROUPING = {"media", "supports", "document", "layer", "container"}


def sheet(text: str) -> list[Rule]:
    """The rules of a style sheet; nested for @media and the other grouping at-rules."""
    return _rules(_COMMENTS.sub(" ", text or "").replace("<!--", " ").replace("-->", " "))


def _rules(text: str) -> list[Rule]:
    out: list[Rule] = []
    i = 0
    while i < len(text):
        prelude_end = _next_of(text, i, "{;")
        prelude = text[i:prelude_end].strip()
        if prelude_end >= len(text):
            if prelude.startswith("@"):
                out.append(Rule(at=prelude))
            break
        if text[prelude_end] == ";":  # a statement at-rule (@import, @charset) or stray text
            if prelude.startswith("@"):
                out.append(Rule(at=prelude))
            i = prelude_end + 1
            continue
        end = _block_end(text, prelude_end + 1)
        body = text[prelude_end + 1:end]
        if prelude.startswith("@"):
            rule = Rule(at=prelude)
            if rule.at_name in _GROUPING:
                rule.rules = _rules(body)
            elif rule.at_name in ("font-face", "page"):
                rule.declarations = declarations(body)
            out.append(rule)
        elif prelude:
            out.append(Rule(selector=prelude, declarations=declarations(body)))
        i = end + 1
    return out


def _next_of(text: str, start: int, chars: str) -> int:
    return next((i for i, ch in _unquoted(text, start) if ch in chars), len(text))


_FEATURE = re.compile(r"\(\s*([a-z-]+)\s*(?::|\))", re.I)


def media_features(query: str) -> list[str]:
    """The features a media query tests: '(max-width: 600px) and (prefers-color-scheme: dark)' -> both names."""
    return [m.group(1).lower() for m in _FEATURE.finditer(query)]
