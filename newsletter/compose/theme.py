"""The Jinja environments of a theme (the user's folder, then the default) and template errors."""

from __future__ import annotations

import functools
import logging
import traceback
from pathlib import Path

import jinja2

from newsletter.compose import text as textmod
from newsletter.config import Config
from newsletter.errors import ComposeError
from newsletter.resources import data_path

log = logging.getLogger(__name__)

HTML_TEMPLATE = "email.html.j2"
TEXT_TEMPLATE = "email.txt.j2"


def default_theme() -> Path:
    """The folder of the default theme, in a checkout or an installed wheel."""
    return data_path("templates")


def load_theme(config: Config) -> jinja2.Environment:
    """The autoescaping HTML environment of the configured theme (cached per theme folder)."""
    return _environments(config.templates)[0]


def plain_environment(config: Config) -> jinja2.Environment:
    """The non-escaping environment, same loader, for what is not HTML: the text part and the subject."""
    return _environments(config.templates)[1]


def forget_templates(config: Config) -> None:
    """Forget every compiled template of the config's theme, so the next render reads the files again."""
    # Jinja's auto_reload compares the mtimes of templates it has loaded; it cannot see a new
    # override file placed in front of a default one, nor two saves within one mtime tick.
    for env in _environments(config.templates):
        if env.cache is not None:
            env.cache.clear()


@functools.lru_cache(maxsize=32)
def _environments(theme: Path | None) -> tuple[jinja2.Environment, jinja2.Environment]:
    loaders = [jinja2.FileSystemLoader(str(theme))] if theme is not None else []
    loaders.append(jinja2.FileSystemLoader(str(default_theme())))
    loader = jinja2.ChoiceLoader(loaders)
    common = dict(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True,
                  lstrip_blocks=True, keep_trailing_newline=True)
    # autoescape=True, not select_autoescape(): that one keys on the extension and
    # misses *.j2, which would leave every HTML template unescaped.
    html = jinja2.Environment(autoescape=True, **common)
    # The text part and the Subject header are not HTML: escaping would put "&amp;"
    # into them. Nothing from this environment ever reaches the HTML part.
    plain = jinja2.Environment(autoescape=False, **common)
    for env in (html, plain):
        env.filters.update(
            paragraphs=textmod.paragraphs,
            wrap=textmod.wrap,
            with_url=textmod.with_url,
            plaintext=textmod.html_to_text,
        )
    log.debug("theme environment for %s", theme or "the default theme")
    return html, plain


def _display(filename: str | None, config: Config) -> str:
    """A template file as the user knows it: relative to the config's folder when inside it."""
    if not filename:
        return "<template>"
    path = Path(filename)
    for base in (config.root, default_theme().parent):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template file and line in a traceback (Jinja rewrites frames to point at them)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        name = frame.filename
        if name.endswith(".py") or name.startswith("<frozen"):
            continue
        found = (name, frame.lineno)
    return found


def template_error(exc: BaseException, config: Config, what: str) -> ComposeError | None:
    """A ComposeError naming the template file and line, or None when no template is to blame."""
    hint = "fix the template"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        filename, line = exc.filename, exc.lineno
        message = exc.message or str(exc)
    else:
        filename, line = _template_frame(exc)
        if isinstance(exc, jinja2.TemplateNotFound):
            message = f"template {exc.name!r} not found"
            hint = f"add it to {config.templates} or use a name of the default theme" if config.templates \
                else "use a name of the default theme"
            if filename is None:
                return ComposeError(message, where=what, hint=hint)
        elif filename is None and not isinstance(exc, jinja2.TemplateError):
            return None  # a bug of ours, not the user's template: let the traceback show it
        else:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = " ".join(str(message).split())  # one line
    where = _display(filename, config) if filename else what
    if line and filename:
        where = f"{where}:{line}"
    return ComposeError(message, where=where, hint=hint)


def render_template(env: jinja2.Environment, name: str, context: dict, config: Config) -> str:
    """Render one theme file; template errors become ComposeError with file and line."""
    try:
        return env.get_template(name).render(context)
    except Exception as exc:  # noqa: BLE001 - sorted into the user's template errors and our bugs
        error = template_error(exc, config, _theme_label(config))
        if error is None:
            raise
        raise error from None


def render_string(env: jinja2.Environment, source: str, context: dict, config: Config, what: str) -> str:
    """Render a template held in the config (subject, preheader); errors name the config key."""
    try:
        return env.from_string(source).render(context)
    except Exception as exc:  # noqa: BLE001
        message = " ".join((getattr(exc, "message", None) or str(exc) or type(exc).__name__).split())
        if not isinstance(exc, jinja2.TemplateError) and _template_frame(exc)[0] is None:
            raise
        raise ComposeError(message, where=f"{config.path}: {what}", hint="fix this template in the config") from None


def _theme_label(config: Config) -> str:
    return str(config.templates) if config.templates else str(default_theme())
