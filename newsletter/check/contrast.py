"""Text contrast (WCAG 2 AA): each text's inlined color against the background it sits on.

What a client sees without <style>: the inline styles, inherited down the tree as CSS does, with
the browser defaults for what is not set (black text, blue links, a white page, 16px).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.check.document import Document, describe
from newsletter.check.findings import WARNING, Finding

AA_TEXT, AA_LARGE = 4.5, 3.0
LINK_BLUE = (0, 0, 238)
HEADINGS = {"h1": 2.0, "h2": 1.5, "h3": 1.17, "h4": 1.0, "h5": 0.83, "h6": 0.67, "small": 0.83}
BOLD_TAGS = {"b", "strong", "h1", "h2", "h3", "h4", "h5", "h6", "th"}
KEYWORD_SIZES = {"xx-small": 9, "x-small": 10, "small": 13, "medium": 16, "large": 18, "x-large": 24,
                 "xx-large": 32}
SKIP = {"head", "style", "script", "title"}

Color = tuple  # (r, g, b) or (r, g, b, alpha)


@dataclass(frozen=True)
class _Computed:
    color: tuple
    background: tuple
    size: float
    bold: bool
    hidden: bool


def parse_color(value: str) -> Color | None:
    """'#abc', '#aabbcc(dd)', 'rgb(1, 2, 3)', 'rgba(1,2,3,.5)' or a color name -> (r, g, b[, a]); None if not a color."""
    value = value.strip().lower()
    if value.startswith("#"):
        digits = value[1:]
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) in (6, 8) and re.fullmatch(r"[0-9a-f]+", digits):
            rgb = tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))
            return rgb + ((int(digits[6:8], 16) / 255,) if len(digits) == 8 else ())
        return None
    found = re.fullmatch(r"rgba?\(([^)]*)\)", value)
    if found:
        parts = [p for p in re.split(r"[\s,/]+", found.group(1).strip()) if p]
        try:
            rgb = tuple(round(float(p[:-1]) * 2.55) if p.endswith("%") else int(float(p)) for p in parts[:3])
            alpha = (float(parts[3][:-1]) / 100 if parts[3].endswith("%") else float(parts[3])) if len(parts) > 3 else 1.0
        except (ValueError, IndexError):
            return None
        return rgb + ((alpha,) if alpha < 1 else ()) if len(rgb) == 3 else None
    from cssutils.css.value import ColorValue

    named = ColorValue.COLORS.get(value)
    if named is None:
        return None
    return named[:3] + ((named[3],) if named[3] < 1 else ())


def _over(color: Color, below: tuple) -> tuple:
    if len(color) == 3:
        return color
    alpha = color[3]
    return tuple(round(c * alpha + b * (1 - alpha)) for c, b in zip(color[:3], below))


def luminance(rgb: tuple) -> float:
    """WCAG 2 relative luminance of an sRGB color."""
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple, b: tuple) -> float:
    """The WCAG contrast ratio of two colors, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _size(value: str, parent: float) -> float | None:
    value = value.strip().lower()
    if value in KEYWORD_SIZES:
        return float(KEYWORD_SIZES[value])
    if value == "smaller":
        return parent * 0.83
    if value == "larger":
        return parent * 1.2
    found = re.fullmatch(r"([\d.]+)(px|pt|em|rem|%)?", value)
    if not found:
        return None
    number, unit = float(found.group(1)), found.group(2) or "px"
    return {"px": number, "pt": number * 4 / 3, "em": number * parent, "rem": number * 16,
            "%": number * parent / 100}[unit]


def _background_of(decls, element) -> Color | None:
    color = None
    for d in decls:
        if d.property == "background-color":
            color = parse_color(d.value) or color
        elif d.property == "background":
            for token in re.findall(r"#[0-9a-fA-F]{3,8}|rgba?\([^)]*\)|[a-zA-Z]+", d.value):
                found = parse_color(token)
                if found is not None:
                    color = found
                    break
    if color is None and element.get("bgcolor"):
        color = parse_color(element.get("bgcolor"))
    return color


def _computed(element, parent: _Computed, doc: Document) -> _Computed:
    decls = doc.style(element)
    color = parent.color
    own = [parse_color(d.value) for d in decls if d.property == "color"]
    own = [c for c in own if c is not None]
    if own:
        color = _over(own[-1], parent.background)
    elif element.tag == "font" and element.get("color"):
        color = parse_color(element.get("color")) or color
    elif element.tag == "a" and element.get("href") is not None:
        color = LINK_BLUE  # the browser's link color is not inherited from the parent
    background = parent.background
    found = _background_of(decls, element)
    if found is not None and not (len(found) == 4 and found[3] == 0):
        background = _over(found, parent.background)
    size = parent.size * HEADINGS.get(element.tag, 1.0)
    for d in decls:
        if d.property == "font-size":
            size = _size(d.value, parent.size) or size
    bold = parent.bold or element.tag in BOLD_TAGS
    for d in decls:
        if d.property == "font-weight":
            weight = d.value.strip().lower()
            bold = weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 600)
    hidden = parent.hidden or any(d.property == "display" and d.value.strip().lower() == "none" for d in decls)
    return _Computed(color, background, size, bold, hidden)


def _has_text(element) -> bool:
    return bool((element.text or "").strip()) or any((child.tail or "").strip() for child in element)


def check_contrast(doc: Document):
    """Text whose color has less contrast with its background than WCAG AA asks (4.5:1; 3:1 for large text)."""
    if doc.body is None:
        return
    start = _Computed((0, 0, 0), (255, 255, 255), 16.0, False, False)
    computed = {doc.root: start}
    found: dict[tuple, list] = {}
    for element in doc.body.iter():
        if not isinstance(element.tag, str):
            continue
        parent = element.getparent()
        style = _computed(element, computed.get(parent, start), doc)
        computed[element] = style
        if style.hidden or element.tag in SKIP or not _has_text(element):
            continue
        large = style.size >= 24 or (style.bold and style.size >= 18.66)
        needed = AA_LARGE if large else AA_TEXT
        ratio = contrast(style.color, style.background)
        if ratio < needed:
            found.setdefault((style.color[:3], style.background[:3], needed), []).append((element, ratio))
    for (fg, bg, needed), places in found.items():
        element, ratio = places[0]
        more = f" [{len(places)} places]" if len(places) > 1 else ""
        what = "large text" if needed == AA_LARGE else "text under 24px (18.66px bold)"
        yield Finding("contrast", WARNING, f"text {_hex(fg)} on {_hex(bg)} has a contrast of {ratio:.2f}:1; WCAG AA "
                      f"asks {needed:g}:1 of {what}{more}", "darken the text or lighten its background (or the "
                      "other way round)", describe(element), element.sourceline, count=len(places))


def _hex(rgb: tuple) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb[:3])
