"""Commands for sending: send, issues."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from newsletter.cli.app import (EXIT_ERROR, EXIT_INTERRUPTED, AsCsv, AsJson, NoSync, _parse_day, _sync_lines, app,
                                emit_rows, progress_bar, state)

WORKER_FLAG = "--worker"  # pipeline/workers.py starts `send ... --worker`; not imported: --help stays quick
ISSUE_COLUMNS = ("digest", "key", "date", "cutoff", "subject", "articles", "sent", "failed", "skipped", "pending",
                 "claimed", "unknown", "error")

@contextmanager
def _stop_on_interrupt(quiet: bool = False):
    """Ctrl-C or SIGTERM sets an event: the message in flight is finished and recorded, then we stop."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if stop.is_set():  # a second Ctrl-C: stop waiting
            raise KeyboardInterrupt
        stop.set()
        if not quiet:
            typer.echo("stopping after the messages in flight…", err=True)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@app.command()
def send(
    digest: Annotated[Optional[str], typer.Argument(help="Digest name (default: the only one).")] = None,
    to: Annotated[Optional[list[str]], typer.Option("--to", metavar="ADDRESS", help="Send a [TEST] copy to this address (repeatable); nothing is recorded.")] = None,
    subscribers: Annotated[bool, typer.Option("--subscribers", help="Send the issue to every active subscriber of the digest.")] = False,
    day: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Issue date, YYYY-MM-DD (default: today in the digest's zone).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say who would get which variant; send nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    retry_unknown: Annotated[bool, typer.Option("--retry-unknown", help="Also send again to those whose delivery is "
                                                "unknown (the server never answered; they may have it).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Send to subscribers even when `newsletter check` finds errors.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, metavar="N", help="Send with N worker "
                                         "processes sharing the issue (each with [smtp] connections).")] = 1,
    worker: Annotated[bool, typer.Option(WORKER_FLAG, hidden=True)] = False,
    no_sync: NoSync = False,
) -> None:
    """Send an issue over SMTP: a test copy with --to, or to all subscribers with --subscribers.

    The issue is checked first (see `newsletter check`); --subscribers refuses an issue with
    errors unless --force. Re-running an interrupted send sends only to those who have not had it;
    several sends of one issue at once (--workers N here, or on other machines against one
    PostgreSQL database) share it out, each subscriber getting it once; the one that sends the
    last message says the issue is complete.
    Example: newsletter send daily --to me@example.org, then newsletter send daily --subscribers --workers 4
    """
    from newsletter.cli.check import check_line, print_findings
    from newsletter.errors import CheckError, ConfigError
    from newsletter.pipeline import send as sending
    from newsletter.pipeline.compliance import require_way_out, sending_warnings

    if bool(to) == subscribers:
        raise typer.BadParameter("choose --to ADDRESS (a test) or --subscribers (the real send)", param_hint="--to / --subscribers")
    if workers > 1 and (to or dry_run):
        raise typer.BadParameter("workers share a real send: use it with --subscribers, without --dry-run",
                                 param_hint="--workers")
    if worker:
        _work(digest, _parse_day(day), retry_unknown=retry_unknown)
        return
    parsed_day = _parse_day(day)
    config = state.config()
    if to:
        _sync_first(config, no_sync)
        report = sending.send_test(config, digest, parsed_day, to, sync_first=False)
        if report.nothing:
            typer.echo(f"nothing sent: {report.nothing}")
            return
        typer.echo(f"test sent to {report.sent} of {len(to)}: {report.subject}")
        typer.echo(check_line(report.check, report.digest, report.key))
        _failures(report)
        return
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if not (yes or dry_run or interactive):
        raise typer.BadParameter("not on a terminal, so it cannot ask: add --yes to send", param_hint="--yes")
    try:
        require_way_out(config)
    except ConfigError as exc:
        if not dry_run:
            raise
        typer.echo(f"warning: the real send would stop here: {exc}", err=True)
    for warning in sending_warnings(config):
        typer.echo(f"warning: {warning}", err=True)

    def confirm(plan, count: int) -> bool:
        typer.echo(check_line(plan.check, plan.digest, plan.key))  # before any question: it may change the answer
        if yes:
            return True
        return typer.confirm(f"Send '{plan.subject}' to {count} subscribers?", default=False, err=True)

    _sync_first(config, no_sync)
    try:
        with _stop_on_interrupt() as stop, progress_bar("sending") as progress:
            report = sending.send_to_subscribers(config, digest, parsed_day, dry_run=dry_run, confirm=confirm,
                                                 progress=progress, stop=stop, sync_first=False, force=force,
                                                 retry_unknown=retry_unknown, workers=workers)
    except CheckError as exc:
        print_findings([f for f in exc.findings if f.severity == "error"], err=True)
        raise
    if report.nothing:
        typer.echo(f"nothing sent: {report.nothing}")
        return
    if dry_run:
        typer.echo(check_line(report.check, report.digest, report.key))
        typer.echo(f"dry run: '{report.subject}' ({report.digest} {report.key}) would go to {report.remaining} "
                   f"subscribers; {report.already} had it already")
        for variant, count in sorted(report.variants.items()):
            typer.echo(f"  {count:6d}  {variant}")
        return
    for w in report.workers:
        typer.echo(f"  worker {w.number} (pid {w.pid}): " + (f"{w.sent} sent, {w.skipped} skipped, {len(w.failed)} "
                   f"failed" + (f", {len(w.unknown)} unknown" if w.unknown else "") if w.died is None else
                   f"died ({w.died}); what it had claimed is sent by the others or by the next run"))
    typer.echo(f"{report.digest} {report.key}: {report.sent} sent, {report.skipped} skipped, {len(report.failed)} failed"
               + (f", {len(report.unknown)} unknown" if report.unknown else "")
               + (f", {report.already} had it already" if report.already else ""))
    if report.complete:
        typer.echo(f"issue {report.digest} {report.key} is complete: {report.issue_sent} recipients have it")
    _failures(report)
    for address, error in report.unknown:
        typer.echo(f"unknown: {address}: {error} (not sent again; see --retry-unknown)", err=True)
    if report.elsewhere and not report.interrupted:
        typer.echo(f"{report.elsewhere} are being sent right now by another send of this issue; "
                   "`newsletter issues` shows when they are done")
    if report.interrupted:
        typer.echo(f"interrupted: {report.remaining} not sent yet; run the same command again to send to them "
                   "(nobody gets it twice)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    dead = [w for w in report.workers if w.died]
    if dead:
        typer.echo(f"error: {len(dead)} of {len(report.workers)} workers died"
                   + (f"; {report.remaining} not sent yet: run the same command again to send to them"
                      if report.remaining else ""), err=True)
    if report.failed or report.unknown or dead:
        raise typer.Exit(EXIT_ERROR)


def _work(digest: str | None, day, *, retry_unknown: bool) -> None:
    """One worker of `send --workers`: its parent synced, checked and confirmed; it sends and prints its counts."""
    from newsletter.pipeline import send as sending
    from newsletter.pipeline.workers import worker_report

    with _stop_on_interrupt(quiet=True) as stop:
        report = sending.send_to_subscribers(state.config(), digest, day, stop=stop, sync_first=False,
                                             retry_unknown=retry_unknown, checked=True)
    typer.echo(worker_report(report))
    if report.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _sync_first(config, no_sync: bool) -> None:
    """Sync here rather than inside the send, so that what the sync skipped is said before anything goes out."""
    if no_sync:
        return
    from newsletter import pipeline

    with progress_bar("syncing") as advance:
        _sync_lines(pipeline.sync_store(config, advance))


def _failures(report) -> None:
    for address, error in report.failed:
        typer.echo(f"failed: {address}: {error}", err=True)


@app.command()
def issues(
    digest: Annotated[Optional[str], typer.Option("--digest", "-d", metavar="DIGEST", help="Only this digest.")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """List recorded issues with their delivery counts per state, and the error of the last scheduled run.

    claimed: being sent right now; unknown: went out but the server never answered (send
    --retry-unknown sends those again).
    Keys (--json, --csv): digest, key, date, cutoff (ISO 8601 or null), subject, articles, sent,
    failed, skipped, pending, claimed, unknown, error.
    Example: newsletter issues --digest daily --json
    """
    from newsletter.pipeline.send import list_issues

    rows = [{"digest": r.digest, "key": r.key, "date": r.issue_date.isoformat(),
             "cutoff": r.cutoff.isoformat() if r.cutoff else None, "subject": r.subject, "articles": r.articles,
             "sent": r.sent, "failed": r.failed, "skipped": r.skipped, "pending": r.pending, "claimed": r.claimed,
             "unknown": r.unknown, "error": r.error}
            for r in list_issues(state.config(), digest)]
    emit_rows(rows, ISSUE_COLUMNS, as_json=as_json, as_csv=as_csv,
              table=["digest", "key", "subject", "articles", "sent", "failed", "skipped", "pending", "claimed",
                     "unknown", "error"])
