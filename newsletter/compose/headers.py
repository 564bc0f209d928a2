"""Header values built from content (titles, subscribers' names, the config), safe whatever the Python version.

Python 3.11.7, the one here, lacks the fix for CVE-2024-6923: its email package writes a
value that merely looks like an RFC 2047 encoded word as it is, and a reader then decodes
it, CR/LF and all, into header lines of its own. So both message builders (build_message
and fast.MessageTemplate) write every header that carries content through `header_value`:

- control characters (C0 such as NUL, ESC, CR, LF; DEL; C1; U+2028/2029) become spaces;
- the length is bounded (a subject, a display name);
- text that is not plain ASCII, or that holds "=?", is written as encoded words of our own,
  so a reader decodes it once, to the literal text, and never into a header;
- lines are folded to at most 78 characters.

The values never pass through the email package's header parser, which is where the
encoded word would be decoded.
"""

from __future__ import annotations

import re
from email.charset import Charset
from email.utils import parseaddr

from newsletter.errors import ComposeError

SUBJECT_LIMIT = 200  # characters
NAME_LIMIT = 100
LINE = 78  # the line length RFC 5322 asks for
WORD = 75  # the longest encoded word RFC 2047 allows
_UTF8 = Charset("utf-8")  # encodes as Q or B, whichever is shorter

ADDRESS_HEADERS = frozenset({"From", "To", "Reply-To", "Sender", "Cc"})
PHRASE_HEADERS = ADDRESS_HEADERS | {"List-Id"}  # "Display text <something>"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")  # a phrase that needs no quotes
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


def clean(text: str, limit: int) -> str:
    """One line: control characters out, whitespace collapsed, at most `limit` characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def ascii_address(address: str) -> tuple[str, bool]:
    """(the address with its domain in IDNA, whether its local part needs SMTPUTF8); ComposeError if invalid."""
    if address.isascii():
        return address, False
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        from email_validator import EmailNotValidError, validate_email

        try:
            domain = validate_email(address, check_deliverability=False).ascii_domain
        except EmailNotValidError as exc:
            raise ComposeError(f"the address {address!r} cannot be written: {exc}") from None
    return f"{local}@{domain}", not local.isascii()


def header_value(name: str, value: str | tuple[str | None, str]) -> str:
    """The folded value of header `name` (continuation lines joined by CRLF and a space), safe to write as is.

    From, To, Reply-To (and List-Id) take (display name, address) or "Name <address>";
    any other header takes unstructured text. A non-ASCII local part stays UTF-8: only a
    server offering SMTPUTF8 can take that message (see ascii_address).
    """
    if name in PHRASE_HEADERS:
        display, address = parseaddr(value) if isinstance(value, str) else value
        address = _CONTROL.sub("", address)
        if name in ADDRESS_HEADERS:
            address = ascii_address(address)[0]
        return _with_phrase(name, clean(display or "", NAME_LIMIT), address)
    text = clean(value, SUBJECT_LIMIT)
    if "=?" in text or not _PRINTABLE.fullmatch(text):
        return _encoded(name, text)
    return _fold_words(len(name) + 2, text)


def _encoded(name: str, text: str) -> str:
    """Encoded words, one per line, split where the text has a space (kept inside the word before it).

    Readers drop the folding between two encoded words (RFC 2047 6.2), so a split inside a
    word would be invisible to them, but some (Python's own address parser among them) show
    it as a space: splitting at spaces reads right either way. Q leaves only letters, digits
    and -!*+/ bare, which is also what RFC 2047 allows inside a phrase.
    """
    words = text.split(" ")
    lines: list[str] = []
    budget = max(LINE - len(name) - 2, 20)
    current = ""
    for i, word in enumerate(words):
        candidate = current + word + (" " if i < len(words) - 1 else "")
        if current and len(_UTF8.header_encode(candidate)) > min(budget, WORD):
            lines.append(_UTF8.header_encode(current))
            candidate, budget = candidate[len(current):], LINE - 1
        current = candidate
        while len(_UTF8.header_encode(current)) > min(budget, WORD):  # one word too long for a line
            cut = next(n for n in range(len(current) - 1, 0, -1)
                       if len(_UTF8.header_encode(current[:n])) <= min(budget, WORD))
            lines.append(_UTF8.header_encode(current[:cut]))
            current, budget = current[cut:], LINE - 1
    lines.append(_UTF8.header_encode(current))
    return "\r\n ".join(lines)


def _fold_words(start: int, text: str) -> str:
    """Plain ASCII folded at spaces so that no line passes LINE (a single longer word keeps its own line)."""
    lines, line = [], ""
    width = LINE - start
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line, width = word, LINE - 1
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n ".join(lines)


def _with_phrase(name: str, display: str, address: str) -> str:
    target = f"<{address}>"
    if not display:
        return address if name in ADDRESS_HEADERS else target
    if "=?" in display or not _PRINTABLE.fullmatch(display) or len(name) + len(display) + 4 > LINE:
        phrase = _encoded(name, display)
    elif _ATOMS.fullmatch(display):
        phrase = display
    else:
        phrase = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
    last = phrase.rpartition("\r\n")[2] if "\r\n" in phrase else f"{name}: {phrase}"
    separator = " " if len(last) + 1 + len(target) <= LINE else "\r\n "
    return phrase + separator + target
