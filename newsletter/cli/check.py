"""`newsletter check`: lint an issue, a .eml or an .html file before it goes out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from newsletter.cli.app import EXIT_ERROR, AsJson, NoSync, _emit_json, _parse_day, _sync_lines, app, state


def print_findings(findings, err: bool = False) -> None:
    """Each finding in two lines: severity, place and problem; then how to fix it."""
    for f in findings:
        where = f.where()
        typer.echo(f"{f.severity}: {where + ': ' if where else ''}{f.message}", err=err)
        typer.echo(f"  fix: {f.fix}", err=err)


def check_line(report, digest: str, key: str) -> str:
    """The one-line count build and send print."""
    from newsletter.pipeline.checking import check_command

    if report is None:
        return ""
    if not report.findings:
        return "check: no findings"
    return f"check: {report.summary()} (see `{check_command(digest, key)}`)"


def _is_file(target: str) -> bool:
    # Digest names are letters, digits, - and _: anything with a dot or a slash is a file.
    return bool(re.search(r"[./\\]", target))


@app.command()
def check(
    target: Annotated[Optional[str], typer.Argument(
        help="A digest (default: the only one), or a .eml or .html file.", metavar="[DIGEST | FILE.eml | FILE.html]")] = None,
    day: Annotated[Optional[str], typer.Option("--date", help="Issue date of the digest, YYYY-MM-DD (default: today).")] = None,
    as_json: AsJson = False,
    no_sync: NoSync = False,
) -> None:
    """Check an email before it goes out: size against Gmail's clipping, client support (caniemail),
    accessibility, links, the text part and the headers. Exit 1 on any error.

    With a digest, checks the issue as a subscriber would get it (recording nothing).
    JSON: {"source", "errors", "warnings", "findings": [{"check", "severity", "message", "fix",
    "element", "line", "clients", "count"}], "notes"}.
    Example: newsletter check daily --date 2024-10-11, or newsletter check outbox/daily/2024-10-11/message.eml
    """
    from newsletter import pipeline

    notes: list[str] = []
    if target is not None and _is_file(target):
        if day is not None:
            raise typer.BadParameter("--date goes with a digest, not a file", param_hint="--date")
        path = Path(target)
        if not path.is_file():
            raise typer.BadParameter(f"{target} is not a file", param_hint="FILE")
        report = pipeline.check_path(path)
    else:
        parsed_day = _parse_day(day)
        result = pipeline.check_issue(state.config(), target, parsed_day, sync_first=not no_sync)
        if not as_json:
            _sync_lines(result.sync)
        if result.report is None:
            if as_json:
                _emit_json({"skipped": True, "reason": result.nothing, "digest": result.digest, "date": result.key})
            else:
                typer.echo(f"nothing to check: {result.nothing}")
            return
        report, notes = result.report, result.notes
    if as_json:
        _emit_json({**report.as_dict(), "notes": notes})
    else:
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        print_findings(report.findings)
        typer.echo(f"{report.source}: {report.summary()}")
    if report.errors:
        raise typer.Exit(EXIT_ERROR)
