"""The Typer app, its global options, one place that turns errors into one line, and shared helpers."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Callable, NoReturn, Optional, Sequence

import typer
from typer.core import TyperGroup

try:  # typer 0.29 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import NoArgsIsHelpError, UsageError

from newsletter import __version__
from newsletter.errors import NewsletterError

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _no_type(ctx=None) -> None:
    return None


def _plain_labels(command, ctx) -> None:
    """Help without type labels ("--json <bool>"): a value shows its name in capitals (--date DATE), a flag nothing."""
    helper = command.get_help_option(ctx)
    for param in [*command.params, *([helper] if helper is not None else [])]:
        if param.metavar is None:
            flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
            param.metavar = "" if flag else param.name.upper()
        if param.param_type_name == "argument":  # Typer shows an argument's type beside its name regardless
            param.display_type_rich = _no_type
    for sub in getattr(command, "commands", {}).values():
        _plain_labels(sub, ctx)


def _usage_line(exc: UsageError) -> NoReturn:
    where = exc.ctx.command_path if exc.ctx else "newsletter"
    typer.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
    raise typer.Exit(EXIT_USAGE) from None


class _Group(TyperGroup):
    """Turns every NewsletterError and usage error, from any sub-command, into one line on stderr."""

    def get_params(self, ctx):
        # Called as the command line is first parsed, before any help is shown: label every command once.
        if not getattr(self, "_labelled", False):
            self._labelled = True
            _plain_labels(self, ctx)
        return super().get_params(ctx)

    def make_context(self, info_name, args, parent=None, **extra):
        # The global options (--config, --verbose...) are parsed here, before invoke: their usage
        # errors get the same one line as a sub-command's, not the framework's boxed message.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            _usage_line(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            from newsletter.masking import mask

            typer.echo(f"error: {mask(str(exc))}", err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except UsageError as exc:
            _usage_line(exc)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    cls=_Group,
    name="newsletter",
    help="Compose an editors'-picks newsletter from articles and deliver it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback must never print a local holding the SMTP password
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, PowerShell)
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    config_path: Optional[Path] = None

    def config(self):
        from newsletter import masking
        from newsletter.config import load_config

        config = load_config(self.config_path)
        if config.smtp is not None:
            masking.register(config.smtp.password, config.smtp.username)
        return config


state = State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"newsletter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", envvar="NEWSLETTER_CONFIG", metavar="PATH",
                                                   help="Path to newsletter.toml (default: ./newsletter.toml).")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Compose an editors'-picks newsletter from articles and deliver it.

    Example: newsletter build --date 2024-10-11
    """
    from newsletter.masking import install_log_filter

    state.config_path = config
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    install_log_filter()  # the SMTP password never reaches a log, in any encoding


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


@contextmanager
def progress_bar(label: str):
    """Yields a (done, total) callback drawing a bar on a terminal, or None when stderr is not one."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = None

    def advance(done: int, total: int | None) -> None:
        nonlocal task
        if task is None:  # drawn from the first step on, so a confirmation prompt comes first
            bar.start()
            task = bar.add_task(label, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield advance
    finally:
        if task is not None:
            bar.stop()


def _print_report(report) -> None:
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    for rejection in report.rejected:
        typer.echo(f"rejected: {rejection}", err=True)


def _sync_lines(report) -> None:
    if report is not None and (report.rejected or report.notes):
        _print_report(report)


def _synced(call, *args, **kwargs):
    """A pipeline listing that syncs first: a progress bar while it syncs, then what the sync skipped, said once."""
    with progress_bar("syncing") as advance:
        found, report = call(*args, progress=advance, **kwargs)
    _sync_lines(report)
    return found


def _emit_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def emit_rows(rows: list[dict], columns: Sequence[str], *, as_json: bool = False, as_csv: bool = False,
              table: Sequence[str] | None = None, show: dict[str, Callable] | None = None) -> None:
    """Print a listing: one row schema (`columns`) as JSON, as CSV, or as a table of some of its columns.

    JSON gives the rows as they are. CSV has a header of `columns`, lists joined with ';' (as
    `subscribers import` reads them) and cells a spreadsheet will not run as formulas. The table
    is drawn on a terminal; piped, it is plain tab-separated text with a header line. `show`
    maps a column to a function (value, row) -> text for the table.
    """
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json / --csv")
    if as_json:
        _emit_json(rows)
        return
    if as_csv:
        import csv
        import io

        from newsletter.csvcells import neutralize

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralize(_cell(row[c], ";")) for c in columns])
        typer.echo(out.getvalue(), nl=False)
        return
    show = show or {}
    shown = list(table or columns)
    cells = [[show[c](row[c], row) if c in show else _cell(row[c], ", ") for c in shown] for row in rows]
    if not sys.stdout.isatty():
        for line in [shown, *cells]:
            typer.echo("\t".join(" ".join(cell.split()) for cell in line))
        return
    from rich.console import Console
    from rich.table import Table

    drawn = Table(*shown, show_lines=False)
    for line in cells:
        drawn.add_row(*line)
    Console().print(drawn)


def local_time(tz, fmt: str = "%Y-%m-%d %H:%M") -> Callable[[str | None, dict], str]:
    """A table formatter: an ISO 8601 time of a row shown in a zone ("" for none)."""
    def show(iso: str | None, row: dict) -> str:
        return datetime.fromisoformat(iso).astimezone(tz).strftime(fmt) if iso else ""
    return show


def _cell(value, joiner: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (list, tuple)):
        return joiner.join(_cell(v, joiner) for v in value)
    if isinstance(value, dict):  # e.g. a source's problem: {input, error}
        return ": ".join(_cell(v, joiner) for v in value.values())
    return str(value)


def open_in_browser(target: str) -> None:
    """Open a URL in the default browser, or say on stderr why that could not be done."""
    import webbrowser

    try:
        opened = webbrowser.open(target)
    except webbrowser.Error as exc:  # e.g. a $BROWSER that cannot be run
        opened, why = False, str(exc)
    else:
        why = "no browser was found (no display, and no $BROWSER set)"
    if not opened:
        typer.echo(f"warning: could not open a browser: {why}; open {target} yourself "
                   "(or set $BROWSER, e.g. export BROWSER=firefox)", err=True)


def open_in_editor(path: Path) -> None:
    """Open a file in $VISUAL or $EDITOR and wait for it, or say on stderr why that could not be done."""
    import os
    import shlex
    import subprocess

    name = "VISUAL" if os.environ.get("VISUAL") else "EDITOR"
    command = os.environ.get(name, "")
    if not command.strip():
        typer.echo(f"warning: could not open {path}: $EDITOR is not set (e.g. export EDITOR=nano)", err=True)
        return
    try:
        status = subprocess.call([*shlex.split(command), str(path)])
    except (OSError, ValueError) as exc:
        why = "command not found" if isinstance(exc, FileNotFoundError) else (getattr(exc, "strerror", None) or exc)
        typer.echo(f"warning: could not open {path}: cannot run ${name} ({command!r}): {why}", err=True)
        return
    if status != 0:
        typer.echo(f"warning: ${name} ({command!r}) exited with status {status}; {path} is as it saved it", err=True)


NoSync = Annotated[bool, typer.Option("--no-sync", help="Do not re-read the configured sources first.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table (the same keys as --json).")]
