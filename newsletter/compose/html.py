"""CSS inlining with premailer, once per rendered issue, plus the fixes every client needs."""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

DOCTYPE = "<!DOCTYPE html>"
# The default theme's column: a 600px sheet less 32px of padding each side. Outlook sizes an
# image by its width attribute alone, so a wider one would push the whole layout out.
CONTENT_WIDTH = 536


def inline_css(html: str) -> str:
    """The rendered HTML with its <style> rules inlined; only what cannot be inlined (@media) stays in a <style>."""
    # premailer (and cssutils under it) takes ~0.3 s to import: only pay for it when composing.
    from lxml import etree
    from premailer import Premailer

    # cssutils logs every property it does not know (mso-*, color-scheme...) as an error.
    logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
    tree = etree.fromstring(html.strip(), etree.HTMLParser()).getroottree()
    _fix_images(tree)
    _quotes_in_cells(tree)
    inliner = Premailer(
        tree.getroot(),
        # Rules already inlined are dropped from the <style>: kept, they only took room under
        # Gmail's 102 KB clipping point. Media queries and pseudo-classes stay in a <style>.
        keep_style_tags=False,
        strip_important=False,      # the !important of the @media rules is what makes them win
        allow_network=False,
        disable_validation=True,    # keep mso-* and other properties cssutils does not know
        remove_classes=False,       # the @media rules select by class
        # CSS width:100% must not become width="100%": Outlook sizes images by the
        # attribute and needs the pixel width the template wrote. No bgcolor either: every
        # client takes background-color, and bgcolor on <body> is not HTML any more.
        disable_basic_attributes=["width", "height", "bgcolor"],
        cssutils_logging_level=logging.CRITICAL,
    )
    root = inliner.transform()
    _compact(root)
    # Without a doctype, clients fall into quirks mode and widen tables and images.
    return etree.tostring(root, method="html", encoding="unicode", doctype=DOCTYPE)


def _compact_css(text: str) -> str:
    """CSS without the white space premailer pretty-prints with (not meaningful here)."""
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s*([{};])\s*", r"\1", text).replace(";}", "}").strip()


def _compact(root) -> None:
    """Every byte counts against Gmail's clipping point: the <style> and style attributes without
    spare white space, and only the classes the remaining <style> (the @media rules) selects by."""
    used: set[str] = set()
    for style in root.iter("style"):
        style.text = _compact_css(style.text or "")
        used.update(re.findall(r"\.(-?[_a-zA-Z][\w-]*)", style.text))
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.get("style"):
            element.set("style", re.sub(r";\s+", ";", element.get("style")))
        if element.get("class") is not None:
            kept = [c for c in element.get("class").split() if c in used]
            if kept:
                element.set("class", " ".join(kept))
            else:
                del element.attrib["class"]


def _fix_images(tree) -> None:
    """Every <img> gets an alt (empty for decoration) so clients never show the file name, and no
    width attribute wider than the column (the height scaled with it)."""
    for img in tree.iter("img"):
        if img.get("alt") is None:
            img.set("alt", "")
        width, height = _pixels(img.get("width")), _pixels(img.get("height"))
        if width and width > CONTENT_WIDTH:
            img.set("width", str(CONTENT_WIDTH))
            if height:
                img.set("height", str(max(1, round(height * CONTENT_WIDTH / width))))


def _pixels(value: str | None) -> int | None:
    found = re.fullmatch(r"\s*(\d+)(?:px)?\s*", value or "")
    return int(found.group(1)) if found else None


def _quotes_in_cells(tree) -> None:
    """Each outermost <blockquote> inside a one-cell table: Outlook (Windows) pads and rules table
    cells only, so a quotation's indent and left rule go on the cell (class quote-cell)."""
    from lxml import etree

    for quote in list(tree.iter("blockquote")):
        if any(a.tag == "blockquote" for a in quote.iterancestors()):
            continue
        table = etree.Element("table", {"role": "presentation", "class": "quote", "width": "100%",
                                        "cellpadding": "0", "cellspacing": "0", "border": "0"})
        cell = etree.SubElement(etree.SubElement(table, "tr"), "td", {"class": "quote-cell"})
        quote.addprevious(table)
        table.tail, quote.tail = quote.tail, None
        cell.append(quote)
