"""Checking an issue before it goes out: the message a subscriber would get, through the check stage.

The check looks at bytes only, so an issue is checked as sent: the per-recipient message built
the way send builds it, with a sample address and a token as long as a real one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from newsletter import check
from newsletter.check import Report
from newsletter.compose import MessageTemplate
from newsletter.config import Config, Digest
from newsletter.errors import CheckError
from newsletter.model import Rendered

SAMPLE_TO = "Reader <reader@example.com>"


def sample_token(digest: Digest) -> str:
    """A token of a real one's length ('<subscriber>.<digest>.<22 characters>'), so sizes come out as sent."""
    return f"1.{digest.name}.{'A' * 22}"


def check_rendered(config: Config, digest: Digest, rendered: Rendered, key: str, now: datetime | None = None) -> Report:
    """The findings on the message a subscriber gets of this rendered issue."""
    template = MessageTemplate(rendered, config, digest, date=now or datetime.now(digest.timezone))
    data = template.personal(SAMPLE_TO, sample_token(digest), template.new_message_id())
    return check.check_message(data, source=f"{digest.name} {key}")


def check_command(digest: str, key: str) -> str:
    """The command that shows an issue's findings (issues keyed by a time have no --date to name them)."""
    return f"newsletter check {digest}" + (f" --date {key}" if len(key) == 10 else "")


def refuse_errors(report: Report, digest: Digest, key: str) -> None:
    """Stop a send whose issue has errors: CheckError naming the count and the first, with the findings to show."""
    if report.errors:
        count, first = len(report.errors), report.errors[0].message
        shown = first if len(first) <= 100 else first[:99] + "…"
        raise CheckError(f"issue {digest.name} {key} has {count} error{'s' if count != 1 else ''} ({shown}); "
                         "nothing sent", hint=f"see `{check_command(digest.name, key)}`; fix them, or send anyway "
                         "with --force", findings=tuple(report.findings))


def check_path(path: Path) -> Report:
    """`newsletter check FILE`: a .eml or .html file."""
    return check.check_file(path)
