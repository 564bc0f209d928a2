"""Where the files shipped with newsletter live: in a wheel, or at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """A shipped file or folder: 'templates', 'articles' or 'newsletter.toml'."""
    installed = _PACKAGE / "_data" / name
    if installed.exists():
        return installed
    # Running from a source checkout (or an editable install): the repo root holds them.
    return _PACKAGE.parent / name
