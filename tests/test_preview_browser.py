"""The preview page in Debian's Chromium through Playwright: toolbar, text tab, live reload, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from newsletter.preview import make_server

from tests.chromium import CHROMIUM, chromium
from tests.conftest import write_config, write_markdown

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")]
DAY = "2024-10-11"
NEWEST = "2024-10-11T18:00:00+00:00"
TIMEOUT = 3000  # ms: a saved file must show within about a second; three leaves room on a busy machine


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a (so far empty) user theme folder and two articles on DAY."""
    root = tmp_path / "project"
    (root / "theme").mkdir(parents=True)
    # The subject `newsletter init` writes: it names the top (newest) article.
    config = write_config(root, digests='\n[digests.daily]\nsubject = "{{ title }}: {{ top }}"\n')
    config.write_text(config.read_text().replace('timezone = "UTC"\n', 'timezone = "UTC"\ntemplates = "theme"\n'))
    write_markdown(root / "articles", "one.md", "First Headline", date=NEWEST, topics=("Iran",))
    write_markdown(root / "articles", "two.md", "Second Headline", topics=("Russia",))
    return root


@pytest.fixture
def page(browser, project: Path):
    server = make_server(project / "newsletter.toml", "127.0.0.1", 0, interval=0.1)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(f"http://127.0.0.1:{server.server_port}/daily/{DAY}/")
    tab.wait_for_selector("#fields dt")
    yield tab
    context.close()
    server.shutdown()
    server.close()
    thread.join(5)
    assert errors == [], errors  # the page's script never threw


def email_frame(page):
    return page.frame_locator("#email")


def frame_eval(page, script: str):
    return page.eval_on_selector("#email", f"f => {{ const doc = f.contentDocument; return {script}; }}")


def test_mobile_is_375_wide_without_horizontal_scroll(page):
    assert page.eval_on_selector("#email", "f => f.clientWidth") == 680
    page.click("#view-mobile")
    page.wait_for_function("document.getElementById('email').clientWidth === 375", timeout=TIMEOUT)
    assert frame_eval(page, "f.contentWindow.innerWidth") == 375
    width, client = frame_eval(page, "[doc.documentElement.scrollWidth, doc.documentElement.clientWidth]")
    assert width <= client == 375
    assert page.get_attribute("#view-mobile", "aria-pressed") == "true"
    assert "view=mobile" in page.url  # a reload keeps the choice


def test_dark_applies_the_emails_dark_media_rules(page):
    light = frame_eval(page, "getComputedStyle(doc.body).backgroundColor")
    page.click("#scheme-dark")
    page.wait_for_function(
        "getComputedStyle(document.getElementById('email').contentDocument.body).backgroundColor !== "
        f"{light!r}", timeout=TIMEOUT)
    # The default theme's @media (prefers-color-scheme: dark) background, #161513.
    assert frame_eval(page, "getComputedStyle(doc.body).backgroundColor") == "rgb(22, 21, 19)"
    page.click("#scheme-light")
    page.wait_for_function(f"getComputedStyle(document.getElementById('email').contentDocument.body)"
                           f".backgroundColor === {light!r}", timeout=TIMEOUT)


def test_the_text_tab_shows_the_plain_text_part(page):
    assert page.is_hidden("#text")
    page.click("#tab-text")
    page.wait_for_function("document.getElementById('text').textContent.includes('First Headline')", timeout=TIMEOUT)
    assert page.is_visible("#text") and page.is_hidden("#email")
    assert "<" not in page.inner_text("#text").split("First Headline")[0]  # text, not HTML


def test_headers_panel_shows_subject_and_size(page):
    fields = page.inner_text("#fields")
    assert "Subject" in fields and "Editors' Picks: First Headline" in fields
    assert "of Gmail's ~102.0 KB clipping point" in page.inner_text("#size")
    assert "over" not in (page.get_attribute("#size", "class") or "")


def test_an_issue_past_gmails_clipping_point_is_flagged(page, project: Path):
    long_text = "\n\n".join(f"Paragraph {i} " + "words " * 180 for i in range(120))
    write_markdown(project / "articles", "long.md", "A Very Long Read", text=long_text)
    page.wait_for_selector("#size.over", timeout=TIMEOUT)
    assert "Gmail will clip it" in page.inner_text("#size")


def test_saving_an_article_updates_the_open_page(page, project: Path):
    page.evaluate("window.__notReloaded = true")
    email_frame(page).get_by_text("First Headline", exact=True).wait_for(timeout=TIMEOUT)
    write_markdown(project / "articles", "one.md", "Edited Headline", date=NEWEST, topics=("Iran",))
    email_frame(page).get_by_text("Edited Headline", exact=True).wait_for(timeout=TIMEOUT)
    assert page.evaluate("window.__notReloaded") is True  # the frame refreshed, not the whole page
    # The headers panel follows too: the subject names the top article.
    page.wait_for_function("document.getElementById('fields').textContent.includes('Picks: Edited Headline')",
                           timeout=TIMEOUT)


def test_a_broken_template_shows_its_error_then_recovers(page, project: Path):
    (project / "theme" / "item.html.j2").write_text("<tr><td>{% if item.title %}{{ item.title }}</td></tr>\n")
    error = email_frame(page).locator("#error")
    error.wait_for(timeout=TIMEOUT)
    assert "theme/item.html.j2:1" in error.inner_text() and "endif" in error.inner_text()
    page.wait_for_function("document.getElementById('fields').textContent.includes('item.html.j2:1')",
                           timeout=TIMEOUT)
    (project / "theme" / "item.html.j2").write_text('<tr><td class="item">Fixed: {{ item.title }}</td></tr>\n')
    email_frame(page).get_by_text("Fixed: First Headline", exact=True).wait_for(timeout=TIMEOUT)


def test_the_variant_picker_renders_a_subscribers_variant(page, project: Path):
    from newsletter.config import load_config
    from newsletter.pipeline.subscribers import add_subscriber

    add_subscriber(load_config(project / "newsletter.toml"), "r@example.org", name=None, digests=[], topics=["Russia"])
    page.reload()
    page.wait_for_selector("#variant option[value='russia']", state="attached", timeout=TIMEOUT)
    page.select_option("#variant", "russia")
    email_frame(page).get_by_text("Second Headline", exact=True).wait_for(timeout=TIMEOUT)
    email_frame(page).get_by_text("First Headline", exact=True).wait_for(state="detached", timeout=TIMEOUT)
    assert page.eval_on_selector("#email", "f => f.contentWindow.location.search") == "?variant=russia"

