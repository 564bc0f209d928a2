"""Article HTML: one allowlist (nh3) behind a linear pre-pass, Markdown, plain text and cutting to size.

nh3's HTML parser takes time that grows with the square of the nesting depth (100,000
nested <div>s take minutes), so `prune` first walks the tags once, in linear time, keeping
at most MAX_DEPTH open elements: deeper tags are dropped, their text kept. The same pass
drops tracking pixels (1x1 or hidden images), which nh3 could not tell once it has removed
the style attribute. nh3 then decides everything else: its output is what is stored.
"""

from __future__ import annotations

import html
import re

# What article HTML may keep: text structure, links and images, nothing active.
ALLOWED_TAGS = {
    "p", "br", "blockquote", "q", "cite", "em", "i", "strong", "b", "u", "s", "sub", "sup",
    "a", "ul", "ol", "li", "h2", "h3", "h4", "pre", "code", "img", "figure", "figcaption", "hr",
    "abbr", "small", "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}, "abbr": {"title"}}
MAX_DEPTH = 100
CUT_MARK = "<p>[…]</p>"

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
# A comment, or a tag whose attributes hold no "<" or ">": a tag is never searched for past the next
# "<", which keeps the scan linear whatever the input (a misread tag only means a looser depth count).
_TOKEN = re.compile(r"<!--.*?(?:-->|\Z)|<(/?)([A-Za-z][A-Za-z0-9:-]*)([^<>]*)>", re.S)
# Start tags that end an open element of the same kind (or a paragraph) without its end tag, as
# HTML parsers do: unclosed <p> and <li> must not count as nesting.
_ENDS = {"li": ("li", {"ul", "ol"}), "dt": ("dt", {"dl"}), "dd": ("dd", {"dl"}), "tr": ("tr", {"table"}),
         "td": ("td", {"tr"}), "th": ("th", {"tr"}), "option": ("option", {"select"})}
_ENDS_P = frozenset({"address", "article", "aside", "blockquote", "div", "dl", "fieldset", "figure", "footer", "form",
                     "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section",
                     "table", "ul"})
_P_WALLS = frozenset({"table", "td", "th", "button", "caption"})
_ATTR = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_BLOCK_END = re.compile(r"</(?:p|blockquote|li|ul|ol|pre|h[2-4]|figure)>", re.I)


def prune(markup: str, max_depth: int = MAX_DEPTH) -> str:
    """Drop tags nested deeper than `max_depth`, comments and tracking pixels; linear in the input."""
    out: list[str] = []
    stack = _Stack()
    dropped: dict[str, int] = {}
    last = 0
    for m in _TOKEN.finditer(markup):
        out.append(markup[last:m.start()])
        last = m.end()
        closing, name, attrs = m.group(1), m.group(2), m.group(3)
        if name is None:  # a comment: nh3 would strip it anyway
            continue
        name = name.lower()
        if closing:
            if dropped.get(name):
                dropped[name] -= 1  # the innermost open element of that name was one we dropped
                continue
            stack.close(name)
        elif name == "img" and _tracking_pixel(attrs):
            continue
        elif name not in _VOID and not attrs.rstrip().endswith("/"):
            stack.end_implied(name)
            if len(stack.names) >= max_depth:
                dropped[name] = dropped.get(name, 0) + 1
                continue
            stack.open(name)
        out.append(m.group(0))
    out.append(markup[last:])
    return "".join(out)


class _Stack:
    """The open elements, with a count per name so that most checks need no search."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.count: dict[str, int] = {}

    def open(self, name: str) -> None:
        self.names.append(name)
        self.count[name] = self.count.get(name, 0) + 1

    def pop_to(self, index: int) -> None:
        for name in self.names[index:]:
            self.count[name] -= 1
        del self.names[index:]

    def close(self, name: str) -> None:
        if self.count.get(name):
            self.pop_to(len(self.names) - 1 - self.names[::-1].index(name))

    def end_implied(self, name: str) -> None:
        """Pop what a start tag `name` ends by itself: an open <p>, a sibling <li>, <td>..."""
        target, walls = ("p", _P_WALLS) if name in _ENDS_P else _ENDS.get(name, (None, None))
        if target is None or not self.count.get(target):
            return
        for index in range(len(self.names) - 1, -1, -1):
            if self.names[index] == target:
                self.pop_to(index)
                return
            if self.names[index] in walls:
                return


def _tracking_pixel(attrs: str) -> bool:
    """An image no reader sees: 1x1 (or 0) in size, hidden by style, or marked hidden."""
    found = {k.lower(): (v or "").strip("\"'").strip().lower() for k, v in _ATTR.findall(attrs)}
    if "hidden" in found or _HIDDEN_STYLE.search(found.get("style", "")):
        return True
    tiny = [re.fullmatch(r"[01](?:\.0*)?(?:px)?", found.get(side, "")) is not None for side in ("width", "height")]
    return all(tiny)


def sanitize_html(markup: str) -> str:
    """Keep only the allowlisted tags and attributes; drop scripts, handlers, javascript: URLs, trackers."""
    import nh3

    if not markup:
        return ""
    return nh3.clean(
        prune(markup),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


_md = None


def markdown_to_html(text: str) -> str:
    """Markdown (inline HTML allowed) -> sanitized HTML."""
    global _md
    if _md is None:
        from markdown_it import MarkdownIt

        _md = MarkdownIt("commonmark", {"html": True, "typographer": False})
    return sanitize_html(_md.render(text)) if text.strip() else ""


def paragraphs(text: str) -> str:
    """Plain text -> escaped HTML paragraphs; single line breaks are kept as <br>."""
    parts = [p.strip() for p in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")) if p.strip()]
    return "\n".join("<p>" + html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in parts)


def plain_text(markup: str) -> str:
    """The text of HTML: tags dropped, entities decoded, white space folded."""
    import nh3

    return " ".join(html.unescape(nh3.clean(prune(markup), tags=set())).split())


def cut_html(markup: str, limit: int) -> str:
    """Sanitized HTML cut to about `limit` bytes of UTF-8, at the end of a block where one is near, marked […]."""
    if len(markup.encode("utf-8")) <= limit:
        return markup
    head = markup.encode("utf-8")[:max(limit - len(CUT_MARK), 0)].decode("utf-8", "ignore")
    ends = [m.end() for m in _BLOCK_END.finditer(head)]
    if ends and ends[-1] > len(head) // 2:
        head = head[:ends[-1]]
    else:
        # Not inside a tag, and on a word boundary.
        head = head[:head.rfind("<")] if head.rfind("<") > head.rfind(">") else head
        head = head[:head.rfind(" ")] if " " in head[len(head) // 2:] else head
    return (sanitize_html(head) + "\n" + CUT_MARK).strip()
