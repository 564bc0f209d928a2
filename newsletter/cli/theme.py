"""`newsletter theme copy`: the default theme into a folder of the project, for editing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from newsletter.cli.app import app, state

theme_app = typer.Typer(help="The email's theme: copy the default one to edit it.", no_args_is_help=True)
app.add_typer(theme_app, name="theme")


@theme_app.command("copy")
def theme_copy(
    directory: Annotated[Optional[Path], typer.Argument(metavar="DIR", help="Folder for the theme (default: the configured templates, else theme/ beside newsletter.toml).")] = None,
) -> None:
    """Copy the default theme into a folder and set `templates` to it in newsletter.toml (comments kept).

    Files that exist are never overwritten: the copy stops before it starts. Any file of the
    folder then replaces the default one of the same name; delete those you do not change.
    Example: newsletter theme copy theme
    """
    from newsletter.scaffold import copy_theme

    config = state.config()
    target = directory if directory is not None else (config.templates or config.root / "theme")
    copied = copy_theme(config.path, target)
    typer.echo(f"copied {len(copied)} files to {target}")
    for path in copied:
        typer.echo(f"  {path}")
    typer.echo(f"{config.path}: templates now names it; edit the files and `newsletter preview` shows them")
