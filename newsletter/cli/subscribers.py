"""`newsletter subscribers ...`: add, edit, import, list, export, remove, unsubscribe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from newsletter.cli.app import EXIT_ERROR, AsCsv, AsJson, app, emit_rows, state

subscribers_app = typer.Typer(help="Manage subscribers: add, edit, import, list, export, remove, unsubscribe.",
                              no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")

DigestOpt = Annotated[Optional[list[str]], typer.Option("--digest", "-d", metavar="DIGEST", help="A digest they get (repeatable; default: the only one).")]
TopicOpt = Annotated[Optional[list[str]], typer.Option("--topic", "-t", metavar="TOPIC", help="Only items in these topics (repeatable; default: all topics).")]
Resubscribe = Annotated[bool, typer.Option("--resubscribe", help="Subscribe again an address that unsubscribed (only with their consent).")]
StatusOpt = Annotated[Optional[str], typer.Option(metavar="STATUS", help="active or unsubscribed (with --digest: for that digest).")]
DigestFilter = Annotated[Optional[str], typer.Option("--digest", "-d", metavar="DIGEST", help="Only subscribers of this digest.")]


def _describe(subscriber) -> str:
    """What a subscriber now gets, in a few words."""
    gets = ", ".join(subscriber.digests) or "no digest"
    topics = "topics: " + ", ".join(subscriber.topics) if subscriber.topics else "all topics"
    left = f"; unsubscribed from {', '.join(subscriber.left)}" if subscriber.left else ""
    status = "; unsubscribed from everything" if subscriber.status == "unsubscribed" else ""
    return f"{subscriber.email} ({gets}; {topics}{left}{status})"


def _no_empty_topic(topics: list[str] | None, fix: str) -> None:
    if topics and any(not t.strip() for t in topics):
        raise typer.BadParameter(f"an empty topic matches nothing; {fix}", param_hint="--topic")


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The address.")],
    name: Annotated[Optional[str], typer.Option(metavar="NAME", help="Their name, for the To header.")] = None,
    digest: DigestOpt = None,
    topic: TopicOpt = None,
    resubscribe: Resubscribe = False,
) -> None:
    """Add a subscriber, or widen what one gets: digests and topics are added, never taken away.

    To set them exactly (or go back to all topics), use `subscribers edit`.
    Example: newsletter subscribers add ada@example.org --name "Ada Lovelace" --topic Iran
    """
    from newsletter.pipeline.subscribers import add_subscriber

    _no_empty_topic(topic, "leave --topic out for all topics")
    subscriber, created = add_subscriber(state.config(), email, name=name, digests=digest or [], topics=topic or [],
                                         resubscribe=resubscribe)
    typer.echo(f"{'added' if created else 'updated'} {_describe(subscriber)}")


@subscribers_app.command("edit")
def subscribers_edit(
    email: Annotated[str, typer.Argument(help="The address.")],
    name: Annotated[Optional[str], typer.Option(metavar="NAME", help='Their name ("" to clear it).')] = None,
    digest: Annotated[Optional[list[str]], typer.Option("--digest", "-d", metavar="DIGEST", help="Exactly the digests they get (repeatable).")] = None,
    topic: Annotated[Optional[list[str]], typer.Option("--topic", "-t", metavar="TOPIC", help="Exactly the topics they get (repeatable).")] = None,
    all_topics: Annotated[bool, typer.Option("--all-topics", help="Clear their topics: they get whole issues.")] = False,
    resubscribe: Resubscribe = False,
) -> None:
    """Set a subscriber's digests, topics or name exactly; what is not given stays as it is.

    A digest they unsubscribed from needs --resubscribe (with their consent).
    Example: newsletter subscribers edit ada@example.org --digest weekly --all-topics
    """
    from newsletter.pipeline.subscribers import KEEP, edit_subscriber

    if topic and all_topics:
        raise typer.BadParameter("choose --topic or --all-topics", param_hint="--topic / --all-topics")
    _no_empty_topic(topic, "use --all-topics for all topics")
    if name is None and digest is None and topic is None and not all_topics and not resubscribe:
        raise typer.BadParameter("nothing to change: give --name, --digest, --topic or --all-topics",
                                 param_hint="OPTIONS")
    subscriber = edit_subscriber(state.config(), email, name=KEEP if name is None else name, digests=digest,
                                 topics=[] if all_topics else topic, resubscribe=resubscribe)
    typer.echo(f"updated {_describe(subscriber)}")


@subscribers_app.command("import")
def subscribers_import(
    path: Annotated[Path, typer.Argument(help="CSV file with a header row; the columns `subscribers export` writes.")],
    resubscribe: Resubscribe = False,
) -> None:
    """Import subscribers from CSV: email, and optionally name, digests, topics, status, unsubscribed.

    Lists are separated by ';'. Bad rows are reported by line, good ones kept. An address that
    unsubscribed stays unsubscribed unless --resubscribe; a row with status unsubscribed unsubscribes.
    Example: newsletter subscribers import readers.csv
    """
    from newsletter.pipeline.subscribers import import_subscribers

    report = import_subscribers(state.config(), path, resubscribe=resubscribe)
    for rejection in report.rejected:
        typer.echo(f"rejected: {rejection}", err=True)
    typer.echo(f"{report.added} added, {report.updated} updated, {len(report.rejected)} rejected")
    if report.rejected:
        raise typer.Exit(EXIT_ERROR)


def _rows(digest: str | None, status: str | None) -> list[dict]:
    """The subscribers' rows, keyed by the columns `subscribers import` reads."""
    from newsletter.pipeline.subscribers import list_subscribers, subscriber_row

    if status not in (None, "active", "unsubscribed"):
        raise typer.BadParameter(f"{status!r} is not a status; use active or unsubscribed", param_hint="--status")
    return [subscriber_row(s) for s in list_subscribers(state.config(), digest=digest, status=status)]


@subscribers_app.command("list")
def subscribers_list(digest: DigestFilter = None, status: StatusOpt = None, as_json: AsJson = False,
                     as_csv: AsCsv = False) -> None:
    """List subscribers.

    Keys (--json, --csv): email, name, digests (those they get), topics (none: all), status
    (unsubscribed: from everything), unsubscribed (the digests they left).
    Example: newsletter subscribers list --digest daily --status active --json
    """
    from newsletter.pipeline.subscribers import COLUMNS

    emit_rows(_rows(digest, status), COLUMNS, as_json=as_json, as_csv=as_csv)


@subscribers_app.command("export")
def subscribers_export(digest: DigestFilter = None, status: StatusOpt = None) -> None:
    """Print subscribers as CSV, the format `subscribers import` reads (the same as `subscribers list --csv`).

    Cells a spreadsheet would run as formulas (=, +, -, @) are written with a ' in front; import takes it off.
    Example: newsletter subscribers export > readers.csv
    """
    from newsletter.pipeline.subscribers import COLUMNS

    emit_rows(_rows(digest, status), COLUMNS, as_csv=True)


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
    token: Annotated[Optional[str], typer.Option(metavar="TOKEN", help="The token from an unsubscribe link instead of an address: its digest only.")] = None,
    digest: Annotated[Optional[list[str]], typer.Option("--digest", "-d", metavar="DIGEST", help="With an address: only these digests (repeatable).")] = None,
    everything: Annotated[bool, typer.Option("--all", help="With a token: every digest, not only the token's.")] = False,
) -> None:
    """Unsubscribe: an address from everything (or the --digest named), a token from its own digest (or --all).

    They are never sent those digests again; only `subscribers add --resubscribe` undoes it.
    Example: newsletter subscribers unsubscribe --token 12.daily.Qk3...
    """
    from newsletter.pipeline.subscribers import unsubscribe

    if (email is None) == (token is None):
        raise typer.BadParameter("give an address or --token, not both", param_hint="EMAIL / --token")
    if token is not None and digest:
        raise typer.BadParameter("a token names its digest; use --all for every digest", param_hint="--digest")
    subscriber, left = unsubscribe(state.config(), email=email, token=token, digests=digest or None,
                                   everything=everything or (email is not None and not digest))
    typer.echo(f"unsubscribed {subscriber.email} from {'every digest' if left is None else ', '.join(left)}")
