"""The caniemail data (caniemail.json, made by scripts/caniemail_data.py) and when a note applies.

A client counts as affected by one use of a feature when the data says it does not support the
feature, or supports it partly under a note whose condition holds for this use (a partly
supported feature with no notes counts too). A note whose wording the script could not read
into a condition is shown with the others but never counts on its own.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from newsletter.check import css

DATA = Path(__file__).resolve().parent / "caniemail.json"


@dataclass(frozen=True)
class Feature:
    id: str
    title: str
    match: dict
    support: dict  # client -> (status, [note indexes])
    notes: tuple   # ({"text", "when"}, ...)

    @functools.cached_property
    def looks_inside(self) -> bool:
        """Whether a note's condition looks at more of the element than its tag (its children, attributes)."""
        return any(n["when"] and {"contains", "attributes"} & n["when"].keys() for n in self.notes)


@dataclass(frozen=True)
class Data:
    clients: dict          # key -> label
    url: str               # "https://www.caniemail.com/features/{id}/"
    by_id: dict
    by_property: dict      # property -> [Feature], the value-specific ones first
    by_value: tuple        # (compiled regex, Feature) for units and functions
    by_element: dict
    by_attribute: dict
    by_at_rule: dict
    by_media_feature: dict
    by_image: dict
    important: Feature | None
    variables: Feature | None


@functools.lru_cache(maxsize=1)
def data() -> Data:
    """The shipped caniemail data, indexed by what each feature is found by."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    by_property: dict = {}
    by_value, by_element, by_attribute, by_at, by_media, by_image, by_id = [], {}, {}, {}, {}, {}, {}
    important = variables = None
    for f in raw["features"]:
        feature = Feature(f["id"], f["title"], f["match"], {k: tuple(v) for k, v in f["support"].items()},
                          tuple(f["notes"]))
        by_id[feature.id] = feature
        m = feature.match
        if "property" in m:
            for name in m["property"]:
                by_property.setdefault(name, []).append(feature)
        elif "value" in m:
            by_value.append((re.compile(m["value"], re.I), feature))
        if m.get("property_prefix"):
            variables = feature
        for name in m.get("element", []):
            by_element.setdefault(name, []).append(feature)
        for name in m.get("attribute", []):
            by_attribute.setdefault(name, []).append(feature)
        if "at_rule" in m:
            by_at[m["at_rule"]] = feature
        for name in m.get("media_feature", []):
            by_media[name] = feature
        for ext in m.get("image", []):
            by_image[ext] = feature
        if m.get("important"):
            important = feature
    for features in by_property.values():
        features.sort(key=lambda f: "value" not in f.match)
    return Data(raw["clients"], raw["source"]["url"], by_id, by_property, tuple(by_value), by_element,
                by_attribute, by_at, by_media, by_image, important, variables)


@dataclass(frozen=True)
class Use:
    """One use of a feature: where, by which clients it is seen, and what the notes' conditions test."""

    feature: Feature
    clients: frozenset
    element: object = None          # the lxml element it is on (for a <style> rule: one it selects)
    line: int | None = None
    where: str | None = None
    declaration: css.Declaration | None = None
    block: tuple = ()               # the declarations beside it (a tuple of Declaration: hashable)
    value: str = ""                 # what value conditions test: the CSS value or the attribute's
    inline: bool = True             # in the HTML itself, seen by clients that ignore <style>
    in_body: bool = False
    style_size: int = 0


# -- conditions of the notes ------------------------------------------------

def _token(value: str, token: str) -> bool:
    if token == "%":
        return "%" in value
    t = re.escape(token.lower())
    return re.search(rf"(?<![\w-]){t}(?![\w-])|\d{t}\b", value.lower()) is not None


def _px(value: str) -> float:
    return max((float(n) for n in re.findall(r"(\d+(?:\.\d+)?)px", value)), default=0.0)


def _is_color(value: str) -> bool:
    return re.fullmatch(r"#[0-9a-f]{3,8}|[a-z]+|rgba?\([^)]*\)|hsla?\([^)]*\)", value.strip().lower()) is not None


def _holds(key: str, arg, use: Use) -> bool:
    tag = use.element.tag if use.element is not None else None
    value = use.value
    if key == "inline":
        return use.inline
    if key == "element":
        return tag in arg
    if key == "element_except":
        return tag is not None and tag not in arg
    if key == "contains":
        return use.element is not None and any(use.element.iter(*arg)) and use.element.tag not in arg
    if key == "values":
        return any(_token(value, t) for t in arg)
    if key == "values_except":
        return value.strip().lower() not in arg
    if key == "negative":
        return re.search(r"(?<![\w-])-(?:\d|\.\d)", value) is not None
    if key == "comma":
        return any(sep == "," for _, sep in css._split(value, ","))
    if key == "words":
        return len(value.split()) >= arg
    if key == "not_color":
        return not _is_color(value)
    if key == "px_over":
        return _px(value) > arg
    if key == "value_regex":
        return re.search(arg, value, re.I) is not None
    if key == "raw":
        return use.declaration is not None and re.search(arg, use.declaration.raw) is not None
    if key == "property":
        return use.declaration is not None and use.declaration.property in arg
    if key == "attributes":
        el = use.element
        return el is not None and any(el.get(a) is not None or any(c.get(a) is not None for c in el) for a in arg)
    if key == "unless_declared":
        return not any(d.property == arg for d in use.block)
    if key == "in_body":
        return use.in_body
    if key == "style_over":
        return use.style_size > arg
    return False  # a condition this version does not know: never enough to report on its own


def affected(use: Use) -> dict:
    """client -> (status, notes) for each client that sees this use and does not fully support it."""
    out = {}
    for client in use.clients:
        entry = use.feature.support.get(client)
        if entry is None:
            continue
        status, refs = entry
        notes = [use.feature.notes[i] for i in refs]
        if status == "n":
            out[client] = ("n", tuple(n["text"] for n in notes))
            continue
        applying = tuple(n["text"] for n in notes
                         if n["when"] is not None and all(_holds(k, v, use) for k, v in n["when"].items()))
        if applying or (status == "a" and not notes):
            out[client] = ("a", applying)
    return out
