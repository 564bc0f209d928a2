"""The command line: each command parses its options and makes one call into the pipeline."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

try:  # typer 0.29 carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import UsageError

from newsletter import __version__
from newsletter.errors import NewsletterError

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class _Group(TyperGroup):
    """Turns every NewsletterError and usage error, from any sub-command, into one line on stderr."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "newsletter"
            typer.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    cls=_Group,
    name="newsletter",
    help="Compose an editors'-picks newsletter from articles and deliver it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback must never print a local holding the SMTP password
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    config_path: Optional[Path] = None

    def config(self):
        from newsletter.config import load_config

        return load_config(self.config_path)


state = State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"newsletter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", envvar="NEWSLETTER_CONFIG",
                                                   help="Path to newsletter.toml (default: ./newsletter.toml).")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Compose an editors'-picks newsletter from articles and deliver it.

    Example: newsletter build --date 2024-10-11
    """
    state.config_path = config
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# -- option parsing helpers ------------------------------------------------

def _parse_day(value: Optional[str], option: str = "--date") -> Optional[date]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2024-10-11", param_hint=option) from None


def _parse_moment(value: Optional[str], option: str, tz, end_of_day: bool = False) -> Optional[datetime]:
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM",
                                 param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _progress():
    """A progress callback drawing a bar on a terminal, or None when output is not a terminal."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task("reading", total=None)

    def advance(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    return bar, advance


def _print_report(report, *, err: bool = False) -> None:
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    for rejection in report.rejected:
        typer.echo(f"rejected: {rejection}", err=True)


def _sync_lines(report) -> None:
    if report is not None and (report.rejected or report.notes):
        _print_report(report)


def _emit_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _table(columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# -- commands --------------------------------------------------------------

@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new newsletter project.")] = Path("."),
) -> None:
    """Create a newsletter project: newsletter.toml, articles/ with two sample articles, outbox/.

    Never overwrites a file that exists. Example: newsletter init my-digest
    """
    from newsletter.scaffold import scaffold

    created, kept = scaffold(directory)
    for path in created:
        typer.echo(f"created {path}")
    for path in kept:
        typer.echo(f"kept existing {path}")
    typer.echo(f"next: cd {directory} && newsletter build" if str(directory) != "." else "next: newsletter build")


@app.command("import")
def import_(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders, feed URLs, or - for standard input.")],
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="markdown, feed, jsonfeed, json, jsonl or digest (default: by extension or content).")] = None,
    day: Annotated[Optional[str], typer.Option("--date", help="Date for items that have none (default: the import time).")] = None,
) -> None:
    """Read articles into the store; importing the same thing again updates, never duplicates.

    Example: newsletter import articles/ https://example.org/feed.xml
    """
    from newsletter import pipeline
    from newsletter.sources import READERS

    if fmt is not None and fmt not in READERS:
        raise typer.BadParameter(f"{fmt!r} is not a format; use one of {', '.join(READERS)}", param_hint="--format")
    parsed_day = _parse_day(day)
    config = state.config()
    stdin = sys.stdin.buffer.read() if "-" in inputs else None
    bar, advance = _progress()
    if bar:
        bar.start()
    try:
        report = pipeline.import_into_store(config, inputs, fmt=fmt, day=parsed_day, stdin=stdin, progress=advance)
    finally:
        if bar:
            bar.stop()
    _print_report(report)
    typer.echo(report.summary())
    if report.rejected:
        raise typer.Exit(EXIT_ERROR)


@app.command()
def sync() -> None:
    """Re-read the sources in newsletter.toml; unchanged files are skipped.

    Example: newsletter sync
    """
    from newsletter import pipeline

    config = state.config()
    bar, advance = _progress()
    if bar:
        bar.start()
    try:
        report = pipeline.sync_store(config, advance)
    finally:
        if bar:
            bar.stop()
    _print_report(report)
    typer.echo(report.summary())
    if report.rejected:
        raise typer.Exit(EXIT_ERROR)


NoSync = Annotated[bool, typer.Option("--no-sync", help="Do not re-read the configured sources first.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def articles(
    topic: Annotated[Optional[list[str]], typer.Option("--topic", "-t", help="Only these topics (any of; repeatable).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Published on or after (YYYY-MM-DD or ISO date-time).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Published on or before (YYYY-MM-DD or ISO date-time).")] = None,
    source: Annotated[Optional[str], typer.Option(help="Only this source (publication name).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many.")] = None,
    as_json: AsJson = False,
    no_sync: NoSync = False,
) -> None:
    """List stored articles, newest first.

    JSON keys: id, title, url, source, published (ISO 8601), topics, author.
    Example: newsletter articles --topic Iran --since 2024-10-01 --json
    """
    from newsletter import pipeline

    config = state.config()
    found, report = pipeline.list_articles(
        config, topics=topic or [], since=_parse_moment(since, "--since", config.timezone),
        until=_parse_moment(until, "--until", config.timezone, end_of_day=True),
        source=source, limit=limit, sync_first=not no_sync)
    _sync_lines(report)
    if as_json:
        _emit_json([{"id": a.id, "title": a.title, "url": a.url, "source": a.source,
                     "published": a.published.isoformat(), "topics": list(a.topics), "author": a.author}
                    for a in found])
        return
    _table(["published", "title", "source", "topics"],
           [[a.published.astimezone(config.timezone).strftime("%Y-%m-%d %H:%M"), a.title, a.source or "",
             ", ".join(a.topics)] for a in found])


@app.command()
def topics(as_json: AsJson = False, no_sync: NoSync = False) -> None:
    """List topics with their number of articles and latest date.

    JSON keys: name, slug, count, latest (ISO 8601 or null).
    Example: newsletter topics --json
    """
    from newsletter import pipeline

    config = state.config()
    rows, report = pipeline.list_topics(config, sync_first=not no_sync)
    _sync_lines(report)
    if as_json:
        _emit_json([{"name": r.name, "slug": r.slug, "count": r.count,
                     "latest": r.latest.isoformat() if r.latest else None} for r in rows])
        return
    _table(["topic", "slug", "articles", "latest"],
           [[r.name, r.slug, str(r.count), r.latest.astimezone(config.timezone).strftime("%Y-%m-%d") if r.latest else ""]
            for r in rows])


@app.command()
def build(
    digest: Annotated[Optional[str], typer.Argument(help="Digest name (default: the only one).")] = None,
    day: Annotated[Optional[str], typer.Option("--date", help="Issue date, YYYY-MM-DD (default: today in the digest's zone).")] = None,
    force: Annotated[bool, typer.Option(help="Pick this issue's articles again instead of reusing the recorded ones.")] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML in the default browser.")] = False,
    as_json: AsJson = False,
    no_sync: NoSync = False,
) -> None:
    """Build one issue into outbox/<digest>/<date>/ (message.eml, index.html, message.txt).

    JSON: {"digest", "date", "subject", "articles": [ids], "files": {"eml", "html", "txt"}},
    or {"skipped": true, "reason": ...} when there was nothing to send.
    Example: newsletter build daily --date 2024-10-11 --open
    """
    from newsletter import pipeline

    parsed_day = _parse_day(day)
    config = state.config()
    result = pipeline.build(config, digest, parsed_day, force=force, sync_first=not no_sync)
    if not as_json:
        _sync_lines(result.sync)
    if result.skipped:
        if as_json:
            _emit_json({"skipped": True, "reason": result.reason, "digest": result.digest, "date": result.key})
        else:
            typer.echo(f"nothing written: {result.reason}")
        return
    if as_json:
        _emit_json({"digest": result.digest, "date": result.key, "subject": result.subject,
                    "articles": result.articles, "files": {k: str(v) for k, v in result.files.items()}})
    else:
        typer.echo(f"{result.subject} ({len(result.articles)} articles)")
        for path in result.files.values():
            typer.echo(str(path))
    if open_:
        import webbrowser

        webbrowser.open(result.files["html"].resolve().as_uri())


def main() -> None:
    """Console entry point."""
    app()
