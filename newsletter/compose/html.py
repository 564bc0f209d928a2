"""CSS inlining with premailer, once per rendered issue, plus the fixes every image needs."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DOCTYPE = "<!DOCTYPE html>"


def inline_css(html: str) -> str:
    """The rendered HTML with its <style> rules inlined; the <style> stays for @media rules."""
    # premailer (and cssutils under it) takes ~0.3 s to import: only pay for it when composing.
    from lxml import etree
    from premailer import Premailer

    # cssutils logs every property it does not know (mso-*, color-scheme...) as an error.
    logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
    tree = etree.fromstring(html.strip(), etree.HTMLParser()).getroottree()
    _fix_images(tree)
    inliner = Premailer(
        tree.getroot(),
        keep_style_tags=True,       # media queries and dark mode only work from a <style>
        strip_important=False,      # the !important of those rules is what makes them win
        allow_network=False,
        disable_validation=True,    # keep mso-* and other properties cssutils does not know
        remove_classes=False,       # the @media rules select by class
        # CSS width:100% must not become width="100%": Outlook sizes images by the
        # attribute and needs the pixel width the template wrote.
        disable_basic_attributes=["width", "height"],
        cssutils_logging_level=logging.CRITICAL,
    )
    root = inliner.transform()
    # Without a doctype, clients fall into quirks mode and widen tables and images.
    return etree.tostring(root, method="html", encoding="unicode", doctype=DOCTYPE)


def _fix_images(tree) -> None:
    """Every <img> gets an alt (empty for decoration) so clients never show the file name."""
    for img in tree.iter("img"):
        if img.get("alt") is None:
            img.set("alt", "")
