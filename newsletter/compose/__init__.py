"""The compose stage: an Issue -> subject, preheader, CSS-inlined HTML and text -> a MIME message.

render() does the costly work once per issue (Jinja, premailer, and the clip guard of clip.py
when the HTML would be too long for Gmail); personalize() and
build_message() are cheap and run per recipient. Personal fields are left in the
rendered output as TOKEN_MARK and filled by personalize().

Imports only newsletter.model, .errors, .config and .resources: never another stage.
"""

from __future__ import annotations

import logging

from newsletter.compose.archive import digest_page as archive_digest_page
from newsletter.compose.archive import feed as archive_feed
from newsletter.compose.archive import index_page as archive_index_page
from newsletter.compose.clip import CLIP_BUDGET, clip_note, fit
from newsletter.compose.context import TOKEN_MARK, build_context
from newsletter.compose.fast import MessageTemplate
from newsletter.compose.headers import ascii_address, header_value
from newsletter.compose.html import inline_css
from newsletter.compose.mime import build_message, personalize
from newsletter.compose.notice import confirmation_message
from newsletter.compose.text import normalize
from newsletter.compose.theme import (
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    forget_templates,
    load_theme,
    plain_environment,
    render_template,
)
from newsletter.config import Config, Digest
from newsletter.model import Issue, Rendered

log = logging.getLogger(__name__)

__all__ = ["TOKEN_MARK", "MessageTemplate", "archive_digest_page", "archive_feed", "archive_index_page", "ascii_address",
           "build_message", "confirmation_message", "forget_templates", "header_value", "load_theme", "personalize",
           "render", "render_template"]


def render(issue: Issue, digest: Digest, config: Config, *, archived: bool = False) -> Rendered:
    """Subject, preheader, CSS-inlined HTML and the text part of one issue; personal fields as markers.

    `archived`: the archive's copy, for no reader in particular: no unsubscribe link (so no
    token marker at all) and no "View in browser" link to itself.
    """
    html_env = load_theme(config)
    plain_env = plain_environment(config)
    context = build_context(issue, digest, config, plain_env, archived=archived)
    text = normalize(render_template(plain_env, TEXT_TEMPLATE, context, config))
    full = html = inline_css(render_template(html_env, HTML_TEMPLATE, context, config))
    notes: tuple[str, ...] = ()
    if len(full.encode("utf-8")) > CLIP_BUDGET:
        def trimmed_html(trimmed: frozenset[int]) -> str:
            smaller = build_context(issue, digest, config, plain_env, trimmed, archived)
            return inline_css(render_template(html_env, HTML_TEMPLATE, smaller, config))

        html, trimmed = fit(issue.articles, trimmed_html, full)
        if trimmed:
            notes = (clip_note(issue.articles, full, html, trimmed),)
    log.debug("rendered %s/%s: %d items, %d bytes of HTML", digest.name, issue.key,
              len(issue.articles), len(html.encode("utf-8")))
    return Rendered(subject=context["subject"], preheader=context["preheader"], html=html, text=text,
                    web_html=full, notes=notes)
