"""Commands for the audience and sending: subscribers ..., send, issues."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from newsletter.cli.app import (EXIT_ERROR, EXIT_INTERRUPTED, AsJson, NoSync, _emit_json, _parse_day, _sync_lines,
                                _table, app, progress_bar, state)

subscribers_app = typer.Typer(help="Manage subscribers: add, import, list, export, remove, unsubscribe.",
                              no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")

DigestOpt = Annotated[Optional[list[str]], typer.Option("--digest", "-d", help="A digest they get (repeatable; default: the only one).")]
TopicOpt = Annotated[Optional[list[str]], typer.Option("--topic", "-t", help="Only items in these topics (repeatable; default: the whole issue).")]


def _subscriber_json(s) -> dict:
    return {"email": s.email, "name": s.name, "status": s.status, "digests": list(s.digests), "topics": list(s.topics)}


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The address.")],
    name: Annotated[Optional[str], typer.Option(help="Their name, for the To header.")] = None,
    digest: DigestOpt = None,
    topic: TopicOpt = None,
    resubscribe: Annotated[bool, typer.Option(help="Add again an address that unsubscribed (only with their consent).")] = False,
) -> None:
    """Add a subscriber, or update an active one.

    Example: newsletter subscribers add ada@example.org --name "Ada Lovelace" --topic Iran
    """
    from newsletter.pipeline.subscribers import add_subscriber

    subscriber, created = add_subscriber(state.config(), email, name=name, digests=digest or [], topics=topic or [],
                                         resubscribe=resubscribe)
    typer.echo(f"{'added' if created else 'updated'} {subscriber.email} ({', '.join(subscriber.digests)}"
               f"{'; topics: ' + ', '.join(subscriber.topics) if subscriber.topics else ''})")


@subscribers_app.command("import")
def subscribers_import(path: Annotated[Path, typer.Argument(help="CSV file with a header row: email,name,digests,topics.")]) -> None:
    """Import subscribers from CSV (lists separated by ';'); bad rows are reported by line, good ones kept.

    Example: newsletter subscribers import readers.csv
    """
    from newsletter.pipeline.subscribers import import_subscribers

    report = import_subscribers(state.config(), path)
    for rejection in report.rejected:
        typer.echo(f"rejected: {rejection}", err=True)
    typer.echo(f"{report.added} added, {report.updated} updated, {len(report.rejected)} rejected")
    if report.rejected:
        raise typer.Exit(EXIT_ERROR)


@subscribers_app.command("list")
def subscribers_list(
    digest: Annotated[Optional[str], typer.Option("--digest", "-d", help="Only subscribers of this digest.")] = None,
    status: Annotated[Optional[str], typer.Option(help="active or unsubscribed.")] = None,
    as_json: AsJson = False,
) -> None:
    """List subscribers.

    JSON keys: email, name, status, digests, topics.
    Example: newsletter subscribers list --digest daily --status active --json
    """
    from newsletter.pipeline.subscribers import list_subscribers

    if status not in (None, "active", "unsubscribed"):
        raise typer.BadParameter(f"{status!r} is not a status; use active or unsubscribed", param_hint="--status")
    rows = list_subscribers(state.config(), digest=digest, status=status)
    if as_json:
        _emit_json([_subscriber_json(s) for s in rows])
        return
    _table(["email", "name", "status", "digests", "topics"],
           [[s.email, s.name or "", s.status, ", ".join(s.digests), ", ".join(s.topics)] for s in rows])


@subscribers_app.command("export")
def subscribers_export(
    digest: Annotated[Optional[str], typer.Option("--digest", "-d", help="Only subscribers of this digest.")] = None,
    status: Annotated[Optional[str], typer.Option(help="active or unsubscribed.")] = None,
) -> None:
    """Print subscribers as CSV (the import format plus a status column).

    Example: newsletter subscribers export > readers.csv
    """
    from newsletter.pipeline.subscribers import export_csv

    typer.echo(export_csv(state.config(), digest=digest, status=status), nl=False)


@subscribers_app.command("remove")
def subscribers_remove(email: Annotated[str, typer.Argument(help="The address to forget.")]) -> None:
    """Forget a subscriber and their delivery history.

    Example: newsletter subscribers remove ada@example.org
    """
    from newsletter.pipeline.subscribers import remove_subscriber

    remove_subscriber(state.config(), email)
    typer.echo(f"removed {email}")


@subscribers_app.command("unsubscribe")
def subscribers_unsubscribe(
    email: Annotated[Optional[str], typer.Argument(help="The address.")] = None,
    token: Annotated[Optional[str], typer.Option(help="The token from an unsubscribe link instead of an address.")] = None,
) -> None:
    """Unsubscribe an address (never sent to again), by address or by the token of its unsubscribe link.

    Example: newsletter subscribers unsubscribe --token 12.daily.Qk3...
    """
    from newsletter.pipeline.subscribers import unsubscribe

    if (email is None) == (token is None):
        raise typer.BadParameter("give an address or --token, not both", param_hint="EMAIL / --token")
    subscriber = unsubscribe(state.config(), email=email, token=token)
    typer.echo(f"unsubscribed {subscriber.email}")


@contextmanager
def _stop_on_interrupt():
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
    to: Annotated[Optional[list[str]], typer.Option("--to", help="Send a [TEST] copy to this address (repeatable); nothing is recorded.")] = None,
    subscribers: Annotated[bool, typer.Option("--subscribers", help="Send the issue to every active subscriber of the digest.")] = False,
    day: Annotated[Optional[str], typer.Option("--date", help="Issue date, YYYY-MM-DD (default: today in the digest's zone).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say who would get which variant; send nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    retry_unknown: Annotated[bool, typer.Option("--retry-unknown", help="Also send again to those whose delivery is "
                                                "unknown (the server never answered; they may have it).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Send to subscribers even when `newsletter check` finds errors.")] = False,
    no_sync: NoSync = False,
) -> None:
    """Send an issue over SMTP: a test copy with --to, or to all subscribers with --subscribers.

    The issue is checked first (see `newsletter check`); --subscribers refuses an issue with
    errors unless --force. Re-running an interrupted send sends only to those who have not had it;
    several sends of one issue at once share it out, each subscriber getting it once.
    Example: newsletter send daily --to me@example.org, then newsletter send daily --subscribers --date 2024-10-11
    """
    from newsletter.cli.check import check_line, print_findings
    from newsletter.errors import CheckError
    from newsletter.pipeline import send as sending

    if bool(to) == subscribers:
        raise typer.BadParameter("choose --to ADDRESS (a test) or --subscribers (the real send)", param_hint="--to / --subscribers")
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
                                                 retry_unknown=retry_unknown)
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
    typer.echo(f"{report.digest} {report.key}: {report.sent} sent, {report.skipped} skipped, {len(report.failed)} failed"
               + (f", {len(report.unknown)} unknown" if report.unknown else "")
               + (f", {report.already} had it already" if report.already else ""))
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
    if report.failed or report.unknown:
        raise typer.Exit(EXIT_ERROR)


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
    digest: Annotated[Optional[str], typer.Option("--digest", "-d", help="Only this digest.")] = None,
    as_json: AsJson = False,
) -> None:
    """List recorded issues with their delivery counts per state, and the error of the last scheduled run.

    claimed: being sent right now; unknown: went out but the server never answered (send
    --retry-unknown sends those again).
    JSON keys: digest, key, date, subject, articles, sent, failed, skipped, pending, claimed, unknown, error.
    Example: newsletter issues --digest daily --json
    """
    from newsletter.pipeline.send import list_issues

    rows = list_issues(state.config(), digest)
    if as_json:
        _emit_json([{"digest": r.digest, "key": r.key, "date": r.issue_date.isoformat(), "subject": r.subject,
                     "articles": r.articles, "sent": r.sent, "failed": r.failed, "skipped": r.skipped,
                     "pending": r.pending, "claimed": r.claimed, "unknown": r.unknown, "error": r.error}
                    for r in rows])
        return
    _table(["digest", "issue", "subject", "articles", "sent", "failed", "skipped", "pending", "claimed", "unknown",
            "error"],
           [[r.digest, r.key, r.subject, str(r.articles), str(r.sent), str(r.failed), str(r.skipped), str(r.pending),
             str(r.claimed), str(r.unknown), r.error or ""] for r in rows])
