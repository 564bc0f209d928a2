"""The command line: each command parses its options and makes one call into the pipeline."""

# Importing a command module registers its commands on the app.
from newsletter.cli import archive as _archive  # noqa: F401
from newsletter.cli import check as _check  # noqa: F401
from newsletter.cli import compose as _compose  # noqa: F401
from newsletter.cli import people as _people  # noqa: F401
from newsletter.cli import preview as _preview  # noqa: F401
from newsletter.cli import schedule as _schedule  # noqa: F401
from newsletter.cli import serve as _serve  # noqa: F401
from newsletter.cli import subscribers as _subscribers  # noqa: F401
from newsletter.cli import theme as _theme  # noqa: F401
from newsletter.cli.app import app


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
