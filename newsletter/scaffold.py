"""Files for the editor's project: `newsletter init` (config and samples) and `newsletter theme copy`."""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from datetime import date
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.resources import data_path

# The issue the sample articles belong to: `init` prints the command that builds it.
SAMPLE_ISSUE = date(2024, 10, 11)


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


def copy_theme(config_path: Path, target: Path) -> list[Path]:
    """Copy the default theme into `target` (no file there may exist) and point `templates` at it in the config."""
    source = data_path("templates")
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    taken = [target / f.relative_to(source) for f in files if (target / f.relative_to(source)).exists()]
    if taken:
        raise ConfigError(f"{taken[0]} exists; nothing was copied", where=str(target),
                          hint="copy into a new folder: newsletter theme copy NEW-FOLDER")
    value = _relative(target, config_path.parent)
    text = config_path.read_text(encoding="utf-8")
    edited = set_newsletter_key(text, "templates", value, str(config_path))
    copied = []
    try:
        for f in files:
            dest = target / f.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            copied.append(dest)
        if edited != text:
            _replace_text(config_path, edited)
    except OSError as exc:
        raise ConfigError(f"cannot copy the theme: {exc.strerror}", where=str(exc.filename or target),
                          hint="choose a folder you can write to") from None
    return copied


def _relative(target: Path, root: Path) -> str:
    """The folder as the config should name it: relative to the config's folder when inside it."""
    try:
        return target.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(target.resolve())


_TABLE = re.compile(r"\s*\[")
_ASSIGN = r"(\s*){key}(\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')(.*)"


def set_newsletter_key(text: str, key: str, value: str, where: str) -> str:
    """The config text with `key = value` in [newsletter], keeping every comment and the rest as written.

    An active line is changed, else a commented-out one is switched on, else a line is added
    at the end of the table. The result is parsed again; ConfigError if that cannot be done.
    """
    lines = text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if re.fullmatch(r"\s*\[newsletter\]\s*(#.*)?", line.rstrip("\n"))),
                  None)
    if header is None:
        raise ConfigError(f"has no [newsletter] table to set {key} in", where=where,
                          hint=f"add {key} = {json.dumps(value)} under [newsletter] yourself")
    end = next((i for i in range(header + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
    quoted = json.dumps(value, ensure_ascii=False)
    active = re.compile(_ASSIGN.format(key=re.escape(key)))
    commented = re.compile(r"\s*#\s*" + _ASSIGN.format(key=re.escape(key)))
    for pattern in (active, commented):
        for i in range(header + 1, end):
            m = pattern.fullmatch(lines[i].rstrip("\n"))
            if m:
                newline = "\n" if lines[i].endswith("\n") else ""
                lines[i] = f"{m.group(1)}{key}{m.group(2)}{quoted}{m.group(4)}{newline}"
                return _checked("".join(lines), key, value, where)
    last = max((i for i in range(header, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")),
               default=header)
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, f"{key} = {quoted}\n")
    return _checked("".join(lines), key, value, where)


def _checked(text: str, key: str, value: str, where: str) -> str:
    try:
        ok = tomllib.loads(text).get("newsletter", {}).get(key) == value
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:
        raise ConfigError(f"could not set {key} in [newsletter] and keep the file valid; it is unchanged", where=where,
                          hint=f"add {key} = {json.dumps(value)} under [newsletter] yourself")
    return text


def _replace_text(path: Path, text: str) -> None:
    """Write a file whole or not at all, keeping its permissions."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    shutil.copymode(path, temporary)
    os.replace(temporary, path)
