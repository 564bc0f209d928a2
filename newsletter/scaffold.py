"""`newsletter init`: a new project from the files shipped with newsletter."""

from __future__ import annotations

import shutil
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.resources import data_path


def scaffold(directory: Path) -> tuple[list[Path], list[Path]]:
    """Copy the starter config and sample articles into `directory`; never overwrite. Returns (created, kept)."""
    created, kept = [], []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        wanted = [(data_path("newsletter.toml"), directory / "newsletter.toml")]
        wanted += [(src, directory / "articles" / src.name) for src in sorted(data_path("articles").glob("*.md"))]
        for src, dest in wanted:
            if dest.exists():
                kept.append(dest)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            created.append(dest)
        outbox = directory / "outbox"
        if not outbox.exists():
            outbox.mkdir(mode=0o700)  # issues, and personal copies with their tokens, are private
            outbox.chmod(0o700)
            created.append(outbox)
    except OSError as exc:
        raise ConfigError(f"cannot create the project: {exc.strerror}", where=str(exc.filename or directory),
                          hint="choose a folder you can write to") from None
    return created, kept
