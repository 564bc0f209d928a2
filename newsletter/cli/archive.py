"""`newsletter archive`: the public archive written as static files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from newsletter.cli.app import AsJson, _emit_json, app, state


@app.command()
def archive(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write (made if missing); it is what /archive/ serves.")],
    digest: Annotated[Optional[str], typer.Option("--digest", metavar="DIGEST", help="Only this digest's pages and feed (the front page is always written).")] = None,
    as_json: AsJson = False,
) -> None:
    """Write the archive of sent issues as static files for any web host.

    DIR/index.html lists the digests, DIR/<digest>/index.html a digest's issues (newest first),
    DIR/<digest>/<key>/index.html an issue as sent (no reader's token or address) and
    DIR/<digest>/feed.xml its Atom feed. Links are relative: serve DIR under any path.
    Each file is written under a temporary name and renamed, so a reader never sees half a file.
    JSON: {"out", "issues", "files"}, files being the list of paths written.
    Example: newsletter archive --out public/archive
    """
    from newsletter import pipeline

    config = state.config()
    report = pipeline.write_archive(config, out, digest)
    if as_json:
        _emit_json({"out": str(report.out), "issues": report.issues, "files": [str(p) for p in report.files]})
        return
    typer.echo(f"wrote {report.issues} {'issue' if report.issues == 1 else 'issues'} "
               f"({len(report.files)} files) to {report.out}")
