"""Checks of the HTML itself: size against Gmail's limits, accessibility basics, and links."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from newsletter.check.document import Document, describe, text_of
from newsletter.check.findings import ERROR, WARNING, Finding

KB = 1024
CLIP_WARNING = 90 * KB   # leaves room under the clipping point for what a mail path adds
CLIP_ERROR = 102 * KB    # Gmail shows "[Message clipped]" past about 102 KB of HTML
STYLE_LIMIT = 16 * KB    # Gmail (web) drops a <style> element larger than this
GMAIL = ("Gmail (web)", "Gmail (Android)", "Gmail (iOS)")


def _kb(size: int) -> str:
    return f"{size / KB:.1f} KB"


def _grouped(check: str, severity: str, message: str, fix: str, elements: list) -> list[Finding]:
    """One finding for many places with the same problem: the first one named, the others counted."""
    if not elements:
        return []
    first = elements[0]
    more = f" [{len(elements)} places]" if len(elements) > 1 else ""
    return [Finding(check, severity, message + more, fix, describe(first), first.sourceline, count=len(elements))]


def check_size(doc: Document):
    """HTML over Gmail's clipping point (warning from 90 KB, error from 102 KB); a <style> over 16 KB."""
    if doc.html is None:
        return
    size = doc.html_bytes
    if size >= CLIP_ERROR:
        yield Finding("size", ERROR, f"the HTML is {_kb(size)}: Gmail clips a message past {_kb(CLIP_ERROR)}, hiding "
                      "the rest of it and the unsubscribe link", "shorten the issue (fewer items or quotations) or "
                      "the theme's markup", clients=GMAIL)
    elif size >= CLIP_WARNING:
        yield Finding("size", WARNING, f"the HTML is {_kb(size)}, close to Gmail's clipping point of "
                      f"{_kb(CLIP_ERROR)}", "shorten the issue (fewer items or quotations) or the theme's markup",
                      clients=GMAIL)
    for element, _ in doc.sheets:
        style = len((element.text or "").encode("utf-8"))
        if style > STYLE_LIMIT:
            yield Finding("size", WARNING, f"a <style> of {_kb(style)}: Gmail (web) drops any <style> over "
                          f"{_kb(STYLE_LIMIT)}, with all its rules", "keep in the <style> only what cannot be "
                          "inlined (@media rules)", "<style>", element.sourceline, ("Gmail (web)",))


def check_images(doc: Document):
    """Images without alt text."""
    missing = [img for img in doc.elements() if img.tag == "img" and img.get("alt") is None]
    yield from _grouped("images", ERROR, "an image without alt text: screen readers read out its file name, and "
                        "where images are blocked nothing says what was there",
                        'add alt="what it shows", or alt="" for decoration', missing)


def check_lang(doc: Document):
    """<html> without a lang attribute."""
    if doc.root is not None and not (doc.root.get("lang") or "").strip():
        yield Finding("lang", WARNING, "<html> has no lang: screen readers guess the language to read it in",
                      'add lang="en" (your language) to <html>; newsletter takes it from `language` in the config',
                      "<html>", doc.root.sourceline)


def _hidden(element, doc: Document) -> bool:
    for el in [element, *element.iterancestors()]:
        if el.tag == "body":
            return False
        if any(d.property == "display" and d.value.strip().lower() == "none" for d in doc.style(el)):
            return True
    return False


def check_preheader(doc: Document):
    """No hidden preview text before the first visible text of the body."""
    if doc.body is None:
        return
    for element in doc.body.iter():
        if not isinstance(element.tag, str) or element.tag in ("style", "script"):
            continue
        text = (element.text or "").strip()
        if text:
            if not _hidden(element, doc):
                shown = " ".join(text.split())[:40]
                yield Finding("preheader", WARNING, f"no preheader: inboxes show the first text of the email as its "
                              f"preview (\u201c{shown}\u201d)", "put the preview text first in <body>, hidden with "
                              "display:none (the default theme does)", describe(element), element.sourceline)
            return


def check_tables(doc: Document):
    """Layout tables without role="presentation" (a table with <th> or <caption> holds data)."""
    layout = [t for t in doc.elements() if t.tag == "table" and (t.get("role") or "").lower() != "presentation"
              and not any(True for _ in t.iter("th", "caption"))]
    yield from _grouped("tables", WARNING, 'a layout table without role="presentation": screen readers announce '
                        "its rows and columns", 'add role="presentation" to each table used for layout', layout)


_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.I)


def check_links(doc: Document):
    """Links that are empty, javascript:, relative, or not http(s)/mailto; links with nothing to click."""
    empty, script, relative, anchors, other, nameless = [], [], [], [], [], []
    links = [a for a in doc.elements() if a.tag == "a" and a.get("href") is not None]
    named = {a.get("href").strip() for a in links if text_of(a)}
    for a in links:
        # Browsers ignore control characters and spaces in a scheme: "java\tscript:" still runs.
        href = re.sub(r"[\x00-\x20]", "", a.get("href") or "")
        scheme = _SCHEME.match(href)
        if not href or href == "#":
            empty.append(a)
        elif scheme and scheme.group(1).lower() in ("javascript", "vbscript", "data"):
            script.append(a)
        elif href.startswith("#"):
            anchors.append(a)
        elif not scheme:
            relative.append(a)
        elif scheme.group(1).lower() in ("http", "https"):
            if not urlsplit(href).netloc:
                relative.append(a)
        elif scheme.group(1).lower() != "mailto":
            other.append(a)
        if not text_of(a):
            alts = [img.get("alt") or "" for img in a.iter("img")]
            if not any(alt.strip() for alt in alts) and a.get("href").strip() not in named:
                nameless.append(a)
    yield from _grouped("links", ERROR, "an empty link: it goes nowhere", "give it the URL it should open", empty)
    yield from _grouped("links", ERROR, "a javascript: link: mail clients remove it or refuse to open it",
                        "link to a web page instead", script)
    yield from _grouped("links", ERROR, "a relative link: an email has no page it could be relative to",
                        "write the whole URL, https://...", relative)
    yield from _grouped("links", WARNING, "an in-page (#) link: Gmail (iOS) ignores it and Yahoo follows only "
                        "name= anchors", "link to a web page instead", anchors)
    yield from _grouped("links", WARNING, "a link that is not http:, https: or mailto:: many clients will not "
                        "open it", "use an https:// or mailto: link", other)
    yield from _grouped("links", WARNING, "a link with no text or alt text: screen readers can only read out "
                        "its URL", "put text in it, or alt text on its image", nameless)
