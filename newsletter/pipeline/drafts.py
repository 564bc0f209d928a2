"""The editor's draft files: `newsletter draft` writes one from the selection; build, send, preview and
the scheduled runs read it back and let it decide the issue (articles, order, intro, subject)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Config, Digest
from newsletter.errors import DraftError
from newsletter.model import Article
from newsletter.select import IssueSlot, format_draft, parse_draft
from newsletter.sources import canonical_url, markdown_to_html
from newsletter.store import Store

log = logging.getLogger(__name__)

HELD_LISTED = 30  # held-over articles listed (in a comment) in a new draft file, newest first


@dataclass(frozen=True)
class EditorsChoice:
    """A draft file as it names stored articles: the issue's articles in order, those left out, intro, subject."""

    path: Path
    articles: list[Article]
    left_out: list[str]
    intro: str  # sanitized HTML
    subject: str | None
    preheader: str | None


def draft_path(config: Config, digest_name: str, key: str) -> Path:
    """drafts/<digest>/<key>.md beside the config (newsletter.drafts)."""
    return config.drafts / digest_name / f"{key}.md"


def read_draft(config: Config, store: Store, digest: Digest, key: str) -> EditorsChoice | None:
    """The issue's draft file read against the store, or None when there is none; DraftError naming the line."""
    path = draft_path(config, digest.name, key)
    try:
        data = _read_whole(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DraftError(f"cannot be read: {exc.strerror}", where=str(path)) from None
    if data is None:
        raise DraftError("changed while it was read (being saved?)", where=str(path),
                         hint="run the command again once it is saved")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DraftError("is not UTF-8 text", where=str(path), hint="save it as UTF-8") from None
    parsed = parse_draft(text, str(path))
    named = _lookup(store, [ref for line in parsed.lines for ref in line.refs])
    chosen: list[Article] = []
    seen: dict[str, int] = {}
    for line in parsed.lines:
        article = next((named[ref] for ref in line.refs if ref in named), None)
        where = f"{path}:{line.line}"
        if article is None:
            raise DraftError(f"{line.refs[0]!r} names no stored article", where=where,
                             hint="use an id or URL that `newsletter articles --json` lists, or delete the line")
        if article.id in seen:
            raise DraftError(f"names the same article as line {seen[article.id]}", where=where, hint="delete one of them")
        if article.draft:
            raise DraftError(f"'{article.title}' is marked draft: true", where=where,
                             hint="remove `draft: true` from its front matter to carry it")
        seen[article.id] = line.line
        chosen.append(article)
    offered = store.draft_offer(digest.name, key)
    return EditorsChoice(path=path, articles=chosen, left_out=[i for i in offered if i not in seen],
                         intro=markdown_to_html(parsed.intro), subject=parsed.subject, preheader=parsed.preheader)


def _read_whole(path: Path, attempts: int = 3) -> bytes | None:
    """The file's bytes as one saved version, or None if it kept changing while read.

    A draft read half-saved would record the lines not yet written as left out, for good.
    """
    for _ in range(attempts):
        before = os.stat(path)
        data = path.read_bytes()
        after = os.stat(path)
        unchanged = (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)
        if unchanged and len(data) == after.st_size:
            return data
    return None


def _lookup(store: Store, refs: list[str]) -> dict[str, Article]:
    """What each reference names: an article id, else the id of a canonical URL, else a stored URL."""
    refs = list(dict.fromkeys(refs))
    by_id = {a.id: a for a in store.get_articles(refs)}
    found = {ref: by_id[ref] for ref in refs if ref in by_id}
    urls = [ref for ref in refs if ref not in found and ref.startswith(("http://", "https://"))]
    if urls:
        canonical = {ref: _canonical(ref) for ref in urls}
        by_id = {a.id: a for a in store.get_articles([c for c in canonical.values() if c])}
        by_url = store.articles_by_url(urls)
        for ref in urls:
            article = by_id.get(canonical[ref]) or by_url.get(ref)
            if article is not None:
                found[ref] = article
    return found


def _canonical(url: str) -> str | None:
    try:
        return canonical_url(url)
    except ValueError:
        return None


def write_draft(config: Config, store: Store, digest: Digest, slot: IssueSlot, articles: list[Article],
                held: list[Article], *, subject: str | None = None, preheader: str | None = None) -> Path | None:
    """Write the issue's draft file and remember what it lists; None when one exists (it is never overwritten)."""
    path = draft_path(config, digest.name, slot.key)
    text = format_draft(digest.name, slot.key, slot.cutoff.astimezone(digest.timezone), articles, held[:HELD_LISTED],
                        subject=subject, preheader=preheader)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # dot: the preview's watcher skips it
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        # A hard link appears whole and fails if the name exists: no reader sees half a draft,
        # and an editor's draft (or another process's) is never overwritten.
        os.link(temporary, path)
    except FileExistsError:
        return None
    except OSError as exc:
        raise DraftError(f"cannot be written: {exc.strerror}", where=str(path),
                         hint="check newsletter.drafts and the folder's permissions") from None
    finally:
        temporary.unlink(missing_ok=True)
    store.save_draft_offer(digest.name, slot.key, [a.id for a in articles])
    log.info("wrote %s: %d articles, %d held over listed", path, len(articles), min(len(held), HELD_LISTED))
    return path
