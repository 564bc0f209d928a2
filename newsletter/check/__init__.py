"""The check stage: lint a built email (or an HTML file) before it goes out.

Each check is a function in CHECKS that takes a Document and yields Findings (severity, where,
how to fix). It looks at bytes only: the message as built, never the issue or the config, so
`newsletter check message.eml` says exactly what it says about a digest it builds itself.

Imports only newsletter.errors and its own modules: never another stage.
"""

from __future__ import annotations

import logging
from pathlib import Path

from newsletter.check.contrast import check_contrast
from newsletter.check.document import Document, from_html, from_message, load
from newsletter.check.findings import ERROR, WARNING, Finding, Report
from newsletter.check.markup import (CLIP_ERROR, CLIP_WARNING, STYLE_LIMIT, check_images, check_lang, check_links,
                                     check_preheader, check_size, check_tables)
from newsletter.check.message import check_headers, check_line_length, check_read_more, check_text_part
from newsletter.check.support import check_support
from newsletter.errors import CheckError

log = logging.getLogger(__name__)

__all__ = ["CHECKS", "CLIP_ERROR", "CLIP_WARNING", "ERROR", "STYLE_LIMIT", "WARNING", "CheckError", "Finding",
           "Report", "check_file", "check_html", "check_message", "run"]

# In the order findings are listed (errors before warnings whatever the order).
CHECKS = {
    "size": check_size,
    "support": check_support,
    "images": check_images,
    "lang": check_lang,
    "preheader": check_preheader,
    "tables": check_tables,
    "contrast": check_contrast,
    "links": check_links,
    "text-part": check_text_part,
    "read-more": check_read_more,
    "headers": check_headers,
    "line-length": check_line_length,
}


def run(doc: Document) -> Report:
    """Every check on one email; errors first."""
    findings = [finding for check in CHECKS.values() for finding in check(doc)]
    findings.sort(key=lambda f: f.severity != ERROR)
    report = Report(doc.source, findings)
    log.debug("checked %s: %s", doc.source, report.summary())
    return report


def check_message(data: bytes, source: str = "message") -> Report:
    """Check a whole message (RFC 5322 bytes, as sent)."""
    return run(from_message(data, source))


def check_html(html: str | bytes, source: str = "HTML") -> Report:
    """Check an HTML email on its own (no headers, no text part)."""
    return run(from_html(html, source))


def check_file(path: Path) -> Report:
    """Check a .eml or .html file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot be read: {exc.strerror}", where=str(path)) from None
    return run(load(data, str(path)))
