#!/usr/bin/env python3
"""Regenerate newsletter/check/caniemail.json (and its licence notice) from a caniemail checkout.

    git clone https://github.com/hteumeuleu/caniemail.git /tmp/caniemail
    python scripts/caniemail_data.py /tmp/caniemail

Keeps, for the clients `newsletter check` targets, each feature that one of them does not
fully support: how to find the feature in an email (`match`), each client's latest status
and caniemail's notes, and for each note the condition under which it applies to a use
(`when`), where the note's wording says (see NOTE_RULES). The data is MIT-licensed
(Copyright (c) 2019 Rémi Parmentier); the notice is copied beside the data file.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "newsletter" / "check" / "caniemail.json"

# Our client key -> (caniemail family, platform, label). The latest version listed is "current".
CLIENTS = {
    "gmail-web": ("gmail", "desktop-webmail", "Gmail (web)"),
    "gmail-android": ("gmail", "android", "Gmail (Android)"),
    "gmail-ios": ("gmail", "ios", "Gmail (iOS)"),
    "outlook-windows": ("outlook", "windows", "Outlook (Windows)"),
    "outlook-com": ("outlook", "outlook-com", "Outlook.com"),
    "apple-mail-macos": ("apple-mail", "macos", "Apple Mail (macOS)"),
    "apple-mail-ios": ("apple-mail", "ios", "Apple Mail (iOS)"),
    "yahoo-web": ("yahoo", "desktop-webmail", "Yahoo Mail (web)"),
}

SIDES = ("top", "right", "bottom", "left")
BORDER_PARTS = [f"border-{s}" for s in SIDES] + [f"border-{p}" for p in ("width", "style", "color")] + \
    [f"border-{s}-{p}" for s in SIDES for p in ("width", "style", "color")]
INPUT_TYPES = {"checkbox", "hidden", "radio", "reset", "submit", "text"}

# Features found other than by "css-<property>" or "html-<element>". None: not looked for
# (selectors and pseudo-classes: a client that drops one drops a rule, which the property checks
# of that rule cannot see; AMP and BIMI are not in the HTML).
MATCH: dict[str, dict | None] = {
    "amp": None, "bimi": None, "css-comments": None, "css-nesting": None,
    "css-display-flex": {"property": ["display"], "value": r"^(inline[- ])?flex\b"},
    "css-display-grid": {"property": ["display"], "value": r"^(inline[- ])?grid\b"},
    "css-display-none": {"property": ["display"], "value": r"^none$"},
    "css-margin": {"property": ["margin"] + [f"margin-{s}" for s in SIDES]},
    "css-padding": {"property": ["padding"] + [f"padding-{s}" for s in SIDES]},
    "css-border": {"property": ["border"] + BORDER_PARTS},
    "css-border-radius": {"property": ["border-radius"] + [f"border-{v}-{h}-radius" for v in ("top", "bottom")
                                                           for h in ("left", "right")]},
    "css-border-radius-logical": {"property": [f"border-{a}-{b}-radius" for a in ("start", "end")
                                               for b in ("start", "end")]},
    "css-border-inline-block": {"property": ["border-inline", "border-block"]},
    "css-border-inline-block-individual": {"property": [f"border-{a}-{b}" for a in ("inline", "block")
                                                        for b in ("start", "end")]},
    "css-border-inline-block-longhand": {"property": [f"border-{a}-{b}" for a in ("inline", "block")
                                                      for b in ("width", "style", "color")]},
    "css-margin-inline-block": {"property": ["margin-inline", "margin-block"]},
    "css-margin-inline-start-end": {"property": ["margin-inline-start", "margin-inline-end"]},
    "css-margin-block-start-end": {"property": ["margin-block-start", "margin-block-end"]},
    "css-padding-inline-block": {"property": ["padding-inline", "padding-block"]},
    "css-padding-inline-start-end": {"property": ["padding-inline-start", "padding-inline-end"]},
    "css-padding-block-start-end": {"property": ["padding-block-start", "padding-block-end"]},
    "css-block-inline-size": {"property": ["block-size"]},
    "css-gap": {"property": ["gap", "column-gap", "row-gap"]},
    "css-grid-template": {"property": ["grid-template", "grid-template-columns", "grid-template-rows",
                                       "grid-template-areas"]},
    "css-left-right-top-bottom": {"property": ["left", "right", "top", "bottom"]},
    "css-column-layout-properties": {"property": ["columns", "column-width", "column-span", "column-fill",
                                                  "column-rule", "column-rule-width", "column-rule-style",
                                                  "column-rule-color"]},
    "css-scroll-snap": {"property": ["scroll-snap-type", "scroll-snap-align", "scroll-snap-stop"]},
    "css-text-emphasis": {"property": ["text-emphasis", "text-emphasis-style", "text-emphasis-color"]},
    "css-sytem-ui": {"value": r"\b(system-ui|ui-serif|ui-sans-serif|ui-monospace|ui-rounded)\b"},
    "css-intrinsic-size": {"value": r"\b(fit-content|min-content|max-content)\b"},
    "css-unit-calc": {"value": r"\bcalc\("},
    "css-function-clamp": {"value": r"\bclamp\("},
    "css-function-max": {"value": r"\bmax\("},
    "css-function-min": {"value": r"\bmin\("},
    "css-function-light-dark": {"value": r"\blight-dark\("},
    "css-rgb": {"value": r"\brgb\("},
    "css-rgba": {"value": r"\brgba\("},
    "css-modern-color": {"value": r"\b(lch|oklch|lab|oklab)\("},
    "css-linear-gradient": {"value": r"\b(repeating-)?linear-gradient\("},
    "css-radial-gradient": {"value": r"\b(repeating-)?radial-gradient\("},
    "css-conic-gradient": {"value": r"\b(repeating-)?conic-gradient\("},
    "css-variables": {"value": r"\bvar\(--", "property_prefix": "--"},
    "css-unit-initial": {"value": r"^initial$"},
    "css-important": {"important": True},
    "css-at-font-face": {"at_rule": "font-face"},
    "css-at-import": {"at_rule": "import"},
    "css-at-keyframes": {"at_rule": "keyframes"},
    "css-at-supports": {"at_rule": "supports"},
    "css-at-media": {"at_rule": "media"},
    "css-at-media-prefers-color-scheme": {"media_feature": ["prefers-color-scheme"]},
    "css-at-media-prefers-reduced-motion": {"media_feature": ["prefers-reduced-motion"]},
    "css-at-media-orientation": {"media_feature": ["orientation"]},
    "css-at-media-hover": {"media_feature": ["hover", "any-hover"]},
    "css-at-media-device-pixel-ratio": {"media_feature": ["-webkit-device-pixel-ratio", "-webkit-min-device-pixel-ratio",
                                                          "-webkit-max-device-pixel-ratio", "resolution",
                                                          "min-resolution", "max-resolution"]},
    "css-inert-attribute": {"attribute": ["inert"]},
    "html-h1-h6": {"element": ["h1", "h2", "h3", "h4", "h5", "h6"]},
    "html-lists": {"element": ["ul", "ol", "dl"]},
    "html-semantics": {"element": ["article", "aside", "details", "figcaption", "figure", "footer", "header",
                                   "main", "mark", "nav", "section", "summary", "time"]},
    "html-image-maps": {"element": ["map", "area"]},
    "html-button-reset": {"element": ["button"], "type": "reset"},
    "html-button-submit": {"element": ["button"], "type": "submit"},
    "html-anchor-links": {"link": "#"},
    "html-mailto-links": {"link": "mailto:"},
    "html-meta-color-scheme": {"meta": "color-scheme"},
    "html-doctype": {"doctype": True},
    "html-comments": None,
    "html-loading-attribute": {"attribute": ["loading"]},
    "html-srcset": {"attribute": ["srcset", "sizes"]},
    "image-jpg": {"image": ["jpg", "jpeg"]},
    "image-tiff": {"image": ["tif", "tiff"]},
    "image-heif": {"image": ["heif", "heic"]},
    "image-base64": {"image": ["data:"]},
    "image-mp4": {"image": ["mp4"]},
}
ATTRIBUTES = {"align", "valign", "background", "cellpadding", "cellspacing", "dir", "lang", "role", "width",
              "height", "target", "hidden", "required", "popover"}

# Note wording -> the condition under which the note applies to one use of the feature.
# A note no rule recognizes is kept with when=None: shown, but never enough on its own to report
# a partly supported feature (we cannot tell whether this use is affected).
_TAGS = re.compile(r"`<(\w+)>`")


def _ticks(text: str) -> list[str]:
    """The backticked words of a note, tags (`<li>`) left out."""
    return [t for t in re.findall(r"`([^`]*)`", text) if t and not t.startswith("<")]


def _values(note: str) -> list[str]:
    """The backticked values a note says are not supported ("but not `a`, `b` and `c`")."""
    tail = re.split(r"\bbut not\b", note, maxsplit=1)
    found = _ticks(tail[1] if len(tail) == 2 else note)
    # "`display:inline-flex` is not supported": the value is what follows the property.
    return [v.split(":", 1)[1] if re.fullmatch(r"[a-z-]+:[a-z-]+", v) else v for v in found]


NOTE_RULES: list[tuple[str, object]] = [
    (r"cid embedded", None),
    (r"only (?:supported|works) with non[- ]google accounts|with non google accounts only", {}),
    (r"does not submit", {}),
    (r"`<style>` tag not supported with non-google", {"inline": True}),
    (r"(?:not supported|doesn't work|does not render) with non[- ]g(?:oogle|mail) accounts?",
     lambda n: {"inline": True, **({"values": _values(_sentence(n, "with non"))} if _values(_sentence(n, "with non"))
                                    else {})}),
    (r"only supported inline when using", None),
    (r"not supported inline", {"inline": True}),
    (r"only supported in lowercase", {"raw": r"!\s*(?!important)[A-Za-z]+"}),
    (r"no space before when used with a `background-image`", {"raw": r"\S!", "property": ["background", "background-image"]}),
    (r"only supported with a space before", {"raw": r"\S!"}),
    (r"not supported inside the `<body>`", {"in_body": True}),
    (r"limited to 16 ?kb", {"style_over": 16 * 1024}),
    (r"nested `<table>`|inner tables", {"contains": ["table"]}),
    (r"percentage width on `<img>`", {"element": ["img"], "values": ["%"]}),
    (r"use `mso-line-height-rule:exactly`", {"unless_declared": "mso-line-height-rule"}),
    (r"negative values", {"negative": True}),
    (r"the comma between two values", {"comma": True}),
    (r"not supported with multiple values", {"words": 2}),
    (r"only `background-color` values", {"not_color": True}),
    (r"can not be bigger than (\d+)px", lambda n: {"px_over": int(re.search(r"(\d+)px", n).group(1))}),
    (r"`<number>` values", {"value_regex": r"^\d+$"}),
    (r"whitespace syntax", {"value_regex": r"rgba?\(\s*[\d.]+%?\s+[\d.]"}),
    (r"alpha value is not supported", {"value_regex": r"rgb\((?:[^,)]*,){3}"}),
    (r"the `(\w+)` attribute|`(\w+)` or `(\w+)` attributes", lambda n: {"attributes": _ticks(n)[:2]}),
    (r"only supports `display:none`", {"values_except": ["none"]}),
    (r"only supported on table cells", {"element_except": ["td", "th"]}),
    (r"values set in `(\w+)`", lambda n: {"values": _ticks(n)[:1]}),
    (r"(?:not supported|doesn't support|does not support|but not|is not supported|are not supported|"
     r"not supported\.|does not work|not the)",
     lambda n: _tags_or_values(n)),
    (r"\bonly\b.*`<\w+>`", lambda n: {"element_except": _TAGS.findall(n)}),
    (r"buggy on .*`<\w+>`|unreliable if used on", lambda n: {"element": _TAGS.findall(n)}),
]


def _sentence(note: str, words: str) -> str:
    """The sentence of a note that holds `words` ("... But it can be used ..." is another matter)."""
    return next((part for part in re.split(r"(?<=\.)\s+", note) if words in part.lower()), note)


def _tags_or_values(note: str) -> dict | None:
    tags = _TAGS.findall(note)
    if tags:
        if re.search(r"\bonly\b", note, re.I):
            return {"element_except": tags}
        return {"element": tags}
    values = [v for v in _values(note) if "(" not in v and " " not in v.strip()]
    return {"values": values} if values else None


def note_condition(note: str) -> dict | None:
    """The condition under which a note applies to one use, or None when its wording is not recognized."""
    for pattern, result in NOTE_RULES:
        if re.search(pattern, note, re.I):
            return result(note) if callable(result) else result
    return None


def plain_note(text: str) -> str:
    """A caniemail note as one line of text: Markdown links kept as their text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return " ".join(text.split())


def read_feature(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    found = re.match(r"---\n(.*?)\n---", text, re.S)
    if not found:
        raise ValueError(f"{path}: no front matter")
    # caniemail indents some flow mappings with tabs, which YAML refuses there.
    return yaml.safe_load(found.group(1).replace("\t", "    "))


def match_for(slug: str) -> dict | None:
    if slug in MATCH:
        return MATCH[slug]
    kind, _, name = slug.partition("-")
    if kind == "css":
        if name.startswith(("selector-", "pseudo-")):
            return None
        if name.startswith("unit-"):
            unit = name[5:]
            return {"value": r"\d%" if unit == "percent" else rf"\d{unit}\b"}
        return {"property": [name]}
    if kind == "html":
        if name.startswith("input-") and name[6:] in INPUT_TYPES:
            return {"element": ["input"], "type": name[6:]}
        if name.startswith("aria-"):
            return {"attribute": [name]}
        if name in ATTRIBUTES:
            return {"attribute": [name]}
        return {"element": [name]}
    if kind == "image":
        return {"image": [name]}
    return None


def parse_status(value: str) -> tuple[str, list[str]]:
    parts = str(value).split()
    return parts[0], [p.lstrip("#") for p in parts[1:] if p.startswith("#")]


def build(checkout: Path, commit: str) -> dict:
    features = []
    for path in sorted((checkout / "_features").glob("*.md")):
        if path.name.startswith("_"):
            continue
        slug = path.stem
        match = match_for(slug)
        if match is None:
            continue
        data = read_feature(path)
        stats = data.get("stats") or {}
        all_notes = {str(k): plain_note(v) for k, v in (data.get("notes_by_num") or {}).items()}
        support, used = {}, []
        for key, (family, platform, _label) in CLIENTS.items():
            versions = (stats.get(family) or {}).get(platform) or {}
            if not versions:
                continue
            status, numbers = parse_status(list(versions.values())[-1])  # newest version last
            if status == "u" or (status == "y" and not numbers):
                continue
            refs = []
            for number in numbers:
                if number in all_notes:
                    if number not in used:
                        used.append(number)
                    refs.append(used.index(number))
            support[key] = [status, refs]
        if not support:
            continue
        features.append({
            "id": slug,
            "title": data.get("title", slug),
            "match": match,
            "support": support,
            "notes": [{"text": all_notes[n], "when": note_condition(all_notes[n])} for n in used],
        })
    return {
        "source": {"repository": "https://github.com/hteumeuleu/caniemail", "commit": commit,
                   "licence": "MIT, Copyright (c) 2019 Rémi Parmentier (see caniemail-LICENSE.txt)",
                   "url": "https://www.caniemail.com/features/{id}/"},
        "clients": {key: label for key, (_f, _p, label) in CLIENTS.items()},
        "features": features,
    }


def dumps(data: dict) -> str:
    """Compact JSON with one feature per line, so that a regenerated file diffs feature by feature."""
    def one(value) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    features = ",\n".join(one(f) for f in data["features"])
    return (f'{{"source":{one(data["source"])},\n"clients":{one(data["clients"])},\n'
            f'"features":[\n{features}\n]}}\n')


def commit_of(checkout: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        source = checkout / "SOURCE.txt"  # a copy made without .git may name its commit here
        found = re.search(r"\b[0-9a-f]{40}\b", source.read_text()) if source.exists() else None
        return found.group(0) if found else "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a clone of github.com/hteumeuleu/caniemail")
    parser.add_argument("-o", "--output", type=Path, default=OUT, help=f"default: {OUT}")
    parser.add_argument("--commit", help="the checkout's commit, when it is not a git clone")
    args = parser.parse_args(argv)
    if not (args.checkout / "_features").is_dir():
        parser.error(f"{args.checkout} has no _features folder: is it a caniemail checkout?")
    data = build(args.checkout, args.commit or commit_of(args.checkout))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dumps(data), encoding="utf-8")
    notice = args.output.with_name("caniemail-LICENSE.txt")
    notice.write_text(f"{args.output.name} is derived from caniemail ({data['source']['repository']}, commit "
                      f"{data['source']['commit']}), used under this licence:\n\n"
                      + (args.checkout / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8")
    unknown = sum(1 for f in data["features"] for n in f["notes"] if n["when"] is None)
    print(f"{args.output}: {len(data['features'])} features, {unknown} notes without a recognized condition",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
