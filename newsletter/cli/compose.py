"""Commands that read articles in and build issues: init, import, sync, sources, articles, topics, build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from newsletter.cli.app import (EXIT_ERROR, AsCsv, AsJson, NoSync, _emit_json, _parse_day, _parse_moment,
                                _print_report, _sync_lines, _synced, app, emit_rows, local_time, open_in_browser,
                                open_in_editor, progress_bar, state)

ARTICLE_COLUMNS = ("id", "title", "url", "source", "published", "topics", "author", "draft")
TOPIC_COLUMNS = ("name", "slug", "count", "latest")
SOURCE_COLUMNS = ("source", "kind", "format", "every", "last_checked", "last_read", "articles", "http_status", "etag",
                  "last_modified", "last_error", "moved_to", "gone", "next_fetch", "problems")

@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new newsletter project.")] = Path("."),
) -> None:
    """Create a newsletter project: newsletter.toml, articles/ with two sample articles, outbox/.

    Never overwrites a file that exists. Example: newsletter init my-digest
    """
    import shlex

    from newsletter.scaffold import SAMPLE_ISSUE, scaffold

    created, kept = scaffold(directory)
    for path in created:
        typer.echo(f"created {path}")
    for path in kept:
        typer.echo(f"kept existing {path}")
    # The exact command that builds an issue now: the samples' date, not today (nothing is new today).
    build = f"newsletter build --date {SAMPLE_ISSUE.isoformat()}"
    typer.echo(f"next: cd {shlex.quote(str(directory))} && {build}" if str(directory) != "." else f"next: {build}")
    typer.echo("      (the sample articles' issue, in outbox/; then write your own in articles/ and "
               "`newsletter preview --open`)")


@app.command("import")
def import_(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders, feed URLs, or - for standard input.")],
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", metavar="FORMAT", help="markdown, feed, jsonfeed, json, jsonl or digest (default: by extension or content).")] = None,
    day: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Date for items that have none (default: the import time).")] = None,
) -> None:
    """Read articles into the store; importing the same thing again updates, never duplicates.

    Example: newsletter import articles/ https://example.org/feed.xml
    """
    from newsletter import pipeline
    from newsletter.config import FORMATS

    if fmt is not None and fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not a format; use one of {', '.join(FORMATS)}", param_hint="--format")
    parsed_day = _parse_day(day)
    config = state.config()
    # One byte over the cap is enough for the reader to say the input is too large.
    stdin = sys.stdin.buffer.read(config.max_file_size + 1) if "-" in inputs else None
    with progress_bar("reading") as advance:
        report = pipeline.import_into_store(config, inputs, fmt=fmt, day=parsed_day, stdin=stdin, progress=advance)
    _finish_import(report)


@app.command()
def sync() -> None:
    """Re-read the sources in newsletter.toml: changed files, and feeds (side by side, conditionally).

    A problem is said once, when it appears or its input changes; exit 1 when this run found one.
    Example: newsletter sync
    """
    from newsletter import pipeline

    config = state.config()
    with progress_bar("syncing") as advance:
        report = pipeline.sync_store(config, advance)
    _finish_import(report)


def _finish_import(report) -> None:
    """Notes and rejections on stderr, the counts on stdout; exit 1 when anything was rejected (this time)."""
    _print_report(report)
    typer.echo(report.summary())
    if report.rejected:
        raise typer.Exit(EXIT_ERROR)



@app.command("sources")
def sources_(as_json: AsJson = False, as_csv: AsCsv = False, no_sync: NoSync = False) -> None:
    """List the sources in newsletter.toml with what their last syncs found.

    Each source: last read, articles, last error, HTTP status, ETag and next fetch (with `every`).
    Keys (--json, --csv): source, kind, format, every, last_checked, last_read, articles, http_status, etag,
    last_modified, last_error, moved_to, gone, next_fetch (ISO 8601 or null), problems ([{input, error}]).
    Example: newsletter sources --json
    """
    from newsletter import pipeline

    config = state.config()
    rows = [_source_json(row) for row in _synced(pipeline.source_status, config, sync_first=not no_sync)]
    when = local_time(config.timezone)
    emit_rows(rows, SOURCE_COLUMNS, as_json=as_json, as_csv=as_csv,
              table=["source", "last_read", "articles", "http_status", "last_error", "etag", "next_fetch"],
              show={"last_read": lambda iso, row: when(iso, row) or "never", "http_status": _status,
                    "last_error": _error, "next_fetch": lambda iso, row: _next(iso, row, when)})


def _source_json(row) -> dict:
    iso = lambda dt: dt.isoformat() if dt else None  # noqa: E731
    state = row.state
    return {"source": row.source.label, "kind": row.kind, "format": row.source.format,
            "every": str(row.source.every) if row.source.every else None, "last_checked": iso(state.last_checked),
            "last_read": iso(state.last_read), "articles": state.articles, "http_status": state.status,
            "etag": state.etag, "last_modified": state.last_modified, "last_error": state.error,
            "moved_to": state.moved_to, "gone": state.gone, "next_fetch": iso(row.next_look),
            "problems": [{"input": key, "error": error} for key, error in row.problems]}


def _status(status, row: dict) -> str:
    if row["gone"]:
        return "410 gone"
    if row["moved_to"]:
        return f"{status or ''} moved".strip()
    return str(status or "")


def _error(error, row: dict) -> str:
    return _shorten(error or (row["problems"][0]["error"] if row["problems"] else ""))


def _next(iso, row: dict, when) -> str:
    if row["gone"]:
        return "never (gone)"
    return when(iso, row) if iso else "every sync"


def _shorten(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


@app.command()
def articles(
    topic: Annotated[Optional[list[str]], typer.Option("--topic", "-t", help="Only these topics (any of; repeatable).")] = None,
    since: Annotated[Optional[str], typer.Option(metavar="DATE", help="Published on or after (YYYY-MM-DD or ISO date-time).")] = None,
    until: Annotated[Optional[str], typer.Option(metavar="DATE", help="Published on or before (YYYY-MM-DD or ISO date-time).")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this source (publication name).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many.")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    no_sync: NoSync = False,
) -> None:
    """List stored articles, newest first.

    Keys (--json, --csv): id, title, url, source, published (ISO 8601), topics, author, draft
    (true: kept out of every issue). The table shows published, title, source, topics, draft.
    Example: newsletter articles --topic Iran --since 2024-10-01 --json
    """
    from newsletter import pipeline

    config = state.config()
    since_at = _parse_moment(since, "--since", config.timezone)
    until_at = _parse_moment(until, "--until", config.timezone, end_of_day=True)
    found = _synced(pipeline.list_articles, config, topics=topic or [], since=since_at, until=until_at, source=source,
                    limit=limit, sync_first=not no_sync)
    rows = [{"id": a.id, "title": a.title, "url": a.url, "source": a.source, "published": a.published.isoformat(),
             "topics": list(a.topics), "author": a.author, "draft": a.draft} for a in found]
    emit_rows(rows, ARTICLE_COLUMNS, as_json=as_json, as_csv=as_csv,
              table=["published", "title", "source", "topics", "draft"], show={"published": local_time(config.timezone)})


@app.command()
def topics(as_json: AsJson = False, as_csv: AsCsv = False, no_sync: NoSync = False) -> None:
    """List topics with their number of articles and latest date.

    Keys (--json, --csv): name, slug, count, latest (ISO 8601 or null).
    Example: newsletter topics --json
    """
    from newsletter import pipeline

    config = state.config()
    found = _synced(pipeline.list_topics, config, sync_first=not no_sync)
    rows = [{"name": r.name, "slug": r.slug, "count": r.count, "latest": r.latest.isoformat() if r.latest else None}
            for r in found]
    emit_rows(rows, TOPIC_COLUMNS, as_json=as_json, as_csv=as_csv, show={"latest": local_time(config.timezone, "%Y-%m-%d")})


@app.command()
def build(
    digest: Annotated[Optional[str], typer.Argument(help="Digest name (default: the only one).")] = None,
    day: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Issue date, YYYY-MM-DD (default: today in the digest's zone).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Pick this issue's articles again instead of reusing the recorded ones.")] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML in the default browser.")] = False,
    as_json: AsJson = False,
    no_sync: NoSync = False,
) -> None:
    """Build one issue into outbox/<digest>/<date>/ (message.eml, index.html, message.txt).

    The issue carries what is new since the previous one, up to its cut-off (the cadence's time
    that day), or what the editor's draft file (`newsletter draft`) says. Each build checks the
    email (see `newsletter check`) and prints the count of findings.
    JSON: {"digest", "date", "cutoff", "subject", "articles": [ids], "held_over", "files": {"eml", "html", "txt"},
    "check": {"errors", "warnings"}, "notes": [...]}, or {"skipped": true, "reason", "digest", "date", "cutoff"}
    when there was nothing to send.
    Example: newsletter build daily --date 2024-10-11 --open
    """
    from newsletter import pipeline
    from newsletter.cli.check import check_line

    parsed_day = _parse_day(day)
    config = state.config()
    with progress_bar("syncing") as advance:
        result = pipeline.build(config, digest, parsed_day, force=force, sync_first=not no_sync, progress=advance)
    if not as_json:
        _sync_lines(result.sync)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    cutoff = result.cutoff.isoformat() if result.cutoff else None
    if result.skipped:
        if as_json:
            _emit_json({"skipped": True, "reason": result.reason, "digest": result.digest, "date": result.key,
                        "cutoff": cutoff})
        else:
            typer.echo(f"nothing written: {result.reason}")
        return
    if as_json:
        _emit_json({"digest": result.digest, "date": result.key, "cutoff": cutoff, "subject": result.subject,
                    "articles": result.articles, "held_over": result.held_over,
                    "files": {k: str(v) for k, v in result.files.items()},
                    "check": {"errors": len(result.check.errors), "warnings": len(result.check.warnings)},
                    "notes": result.notes})
    else:
        typer.echo(f"{result.subject} ({len(result.articles)} articles)")
        for path in result.files.values():
            typer.echo(str(path))
        typer.echo(check_line(result.check, result.digest, result.key))
    if open_:
        open_in_browser(result.files["html"].resolve().as_uri())


@app.command()
def draft(
    digest: Annotated[Optional[str], typer.Argument(help="Digest name (default: the only one).")] = None,
    day: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Issue date, YYYY-MM-DD (default: today in the digest's zone).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the draft in $EDITOR (or $VISUAL).")] = False,
    no_sync: NoSync = False,
) -> None:
    """Write the editor's draft of an issue to drafts/<digest>/<date>.md, from what build would carry now.

    Edit it: delete a line to leave an article out (it is not offered again), move lines to
    reorder, add "- <id or URL>" to add a stored article, write an intro, set a subject or
    preheader. build, send, preview and the scheduled run then use it. An existing draft is
    never overwritten (delete it to start again from the picks).
    Example: newsletter draft daily --date 2024-10-11 --open
    """
    from newsletter import pipeline

    parsed_day = _parse_day(day)
    config = state.config()
    result = pipeline.draft(config, digest, parsed_day, sync_first=not no_sync)
    _sync_lines(result.sync)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if result.created:
        held = f"; {result.held_over} held over, listed below them to move up" if result.held_over else ""
        typer.echo(f"wrote {result.path}: {result.articles} article{'' if result.articles == 1 else 's'}{held}")
    else:
        typer.echo(f"{result.path} exists: edit it (or delete it to start again from the picks)")
    if open_:
        open_in_editor(result.path)
