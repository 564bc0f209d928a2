"""Client support: each CSS property, at-rule, element, attribute and image format the email uses,
against the caniemail data for the clients we target (see caniemail.py for when a client counts
as affected by a use). Who sees a use at all is worked out first:

- an element hidden with `display:none` is not looked at for the clients that honour it there;
- a rule inside `@media` only for the clients that apply that media query (an email must read well
  without its media queries, so the query itself is never reported);
- a `<style>` element is reported only when the email relies on it (rules outside `@media`), as
  clients without `<style>` (Gmail with non-Google accounts) then lose them.

What an Outlook-only `<style>` (inside `<!--[if mso]>`) declares for an element counts as declared
beside its inline style: that is where `mso-line-height-rule` belongs.
"""

from __future__ import annotations

import re

from newsletter.check import css
from newsletter.check.caniemail import Feature, Use, affected, data
from newsletter.check.document import Document, describe
from newsletter.check.findings import ERROR, WARNING, Finding

# Features that break the layout itself where they are missing: an error, not a warning.
BREAKS_LAYOUT = {
    "css-display-flex", "css-display-grid", "css-float", "css-position", "css-grid-template", "css-flex-direction",
    "css-flex-wrap", "css-justify-content", "css-align-items", "css-gap", "css-left-right-top-bottom", "css-inset",
    "css-at-import", "html-link",
}
# Features a client that ignores them renders as if they were not written: hints, not layout.
HINTS = {"html-doctype", "html-meta-color-scheme", "css-color-scheme"}
# A client that ignores these CSS sizes on an element falls back on its HTML attribute, which
# Outlook (Windows) honours: width="536" with style="width:100%" is how images stay fluid.
SIZE_ATTRIBUTES = {"width": "width", "max-width": "width", "height": "height"}
SIZE_FEATURES = {"css-width", "css-max-width", "css-height"}
MAX_SELECTED = 50  # elements a <style> rule is judged on; enough to meet each kind of element it styles


# -- collecting the uses --------------------------------------------------------

class _Collector:
    def __init__(self, doc: Document):
        self.doc, self.data = doc, data()
        self.all = frozenset(self.data.clients)
        self.found: dict[str, list] = {}  # feature id -> [(use, affected)]
        self.verdicts: dict[tuple, dict] = {}  # a use's signature -> affected(use): a long issue repeats itself
        self.features: dict[tuple, list] = {}  # (property, value, important) -> the features a declaration uses
        self.selections: dict[tuple, tuple] = {}
        self.outlook: dict = {}  # element -> declarations the Outlook-only <style> gives it
        for rule in doc.outlook_sheets:
            for element in self.selected(rule.selector, limit=None):
                self.outlook.setdefault(element, []).extend(rule.declarations)

    def add(self, use: Use) -> None:
        if use.feature.id in HINTS or not use.clients:
            return
        f = use.feature
        element = use.element if f.looks_inside else getattr(use.element, "tag", None)
        signature = (f.id, use.clients, element, use.value, use.inline, use.in_body, use.style_size,
                     use.declaration.raw if use.declaration else None, use.block)
        if signature not in self.verdicts:
            self.verdicts[signature] = affected(use)
        hit = self.verdicts[signature]
        if hit:
            self.found.setdefault(use.feature.id, []).append((use, hit))

    def declaration_features(self, decl: css.Declaration) -> list[Feature]:
        """The features one declaration uses: its property (a value-specific feature first), units, functions."""
        key = (decl.property, decl.value, decl.important)
        if key not in self.features:
            d = self.data
            specific = [f for f in d.by_property.get(decl.property, ())
                        if "value" in f.match and re.search(f.match["value"], decl.value, re.I)]
            generic = [f for f in d.by_property.get(decl.property, ()) if "value" not in f.match]
            features = specific or generic
            features += [f for regex, f in d.by_value if regex.search(decl.value)]
            if d.important is not None and decl.important:
                features.append(d.important)
            if d.variables is not None and decl.property.startswith("--"):
                features.append(d.variables)
            self.features[key] = features
        return self.features[key]

    def declaration_uses(self, decl: css.Declaration, block, clients, element, inline: bool, **where):
        features = self.declaration_features(decl)
        fallback = SIZE_ATTRIBUTES.get(decl.property)
        if fallback and element is not None and element.get(fallback) is not None:
            features = [f for f in features if f.id not in SIZE_FEATURES]
        for feature in features:
            self.add(Use(feature, clients, element, declaration=decl, block=block, value=decl.value,
                         inline=inline, **where))

    def hidden_for(self, element, decls) -> frozenset:
        """The clients that hide this element: those that honour its display:none there."""
        if not any(x.property == "display" and x.value.strip().lower() == "none" for x in decls):
            return frozenset()
        feature = self.data.by_id.get("css-display-none")
        if feature is None:
            return self.all
        shown = affected(Use(feature, self.all, element, value="none"))
        return self.all - frozenset(shown)

    def walk(self) -> None:
        root = self.doc.root
        if root is None:
            return
        visible = {root: self.all}
        for element in self.doc.elements():
            parent = element.getparent()
            clients = visible.get(parent, self.all) if parent is not None else self.all
            decls = self.doc.style(element)
            clients = clients - self.hidden_for(element, decls)
            visible[element] = clients
            if not clients:
                continue
            where = {"line": element.sourceline}  # described only if it is reported
            self.markup_uses(element, clients, where)
            block = tuple(decls + self.outlook.get(element, []))
            for decl in decls:
                self.declaration_uses(decl, block, clients, element, True, **where)
        self.style_uses(visible)

    def markup_uses(self, element, clients, where) -> None:
        d = self.data
        tag = element.tag
        if tag == "style":
            return  # judged as a whole by style_uses: does the email rely on it?
        for feature in d.by_element.get(tag, ()):
            wanted = feature.match.get("type")
            if wanted is None or (element.get("type") or "text").lower() == wanted:
                self.add(Use(feature, clients, element, **where))
        for name, value in element.attrib.items():
            for feature in d.by_attribute.get(name.lower(), ()):
                self.add(Use(feature, clients, element, value=value, **where))
        if tag == "img":
            feature = d.by_image.get(image_format(element.get("src") or ""))
            if feature is not None:
                self.add(Use(feature, clients, element, value=element.get("src") or "", **where))

    def style_uses(self, visible: dict) -> None:
        for element, rules in self.doc.sheets:
            relied_on = any(r.selector or r.at_name not in ("media",) for r in rules)
            in_body = any(a.tag == "body" for a in element.iterancestors())
            feature = self.data.by_id.get("html-style")
            where = {"line": element.sourceline, "where": "<style>"}
            if feature is not None:
                self.add(Use(feature, self.all, element, inline=relied_on, in_body=in_body,
                             style_size=len((element.text or "").encode("utf-8")), **where))
            self.rule_uses(rules, self.all, visible, where)

    def rule_uses(self, rules, clients, visible, where) -> None:
        for rule in rules:
            if rule.selector:
                chosen = self.selected(rule.selector) or (None,)
                for element in chosen:
                    seen = clients if element is None else clients & visible.get(element, frozenset())
                    for decl in rule.declarations:
                        self.declaration_uses(decl, tuple(rule.declarations), seen, element, False, **where)
            elif rule.at_name == "media":
                self.rule_uses(rule.rules, clients & self.media_clients(rule.at), visible, where)
            else:
                feature = self.data.by_at_rule.get(rule.at_name)
                inner = clients
                if feature is not None:
                    use = Use(feature, clients, inline=False, **where)
                    self.add(use)
                    inner = clients - frozenset(c for c, (status, _) in affected(use).items() if status == "n")
                self.rule_uses(rule.rules, inner, visible, where)

    def media_clients(self, query: str) -> frozenset:
        """The clients that apply a media query: those that support @media and each feature it tests."""
        clients = self.all
        for name in ["media", *css.media_features(query)]:
            feature = self.data.by_at_rule.get(name) if name == "media" else self.data.by_media_feature.get(name)
            if feature is not None:
                clients = clients - {c for c, (status, _) in feature.support.items() if status == "n"}
        return clients

    def selected(self, selector: str, limit: int | None = MAX_SELECTED) -> tuple:
        """The elements a selector picks (at most `limit`); () when it picks none or cannot be read."""
        key = (selector, limit)
        if key not in self.selections:
            from cssselect import SelectorError

            # Pseudo-classes (:hover) and pseudo-elements cannot be matched on a static page: the
            # rule is judged on the elements the rest of the selector picks.
            plain = re.sub(r"::?[a-z-]+(\([^)]*\))?", "", selector)
            try:
                found = tuple(self.doc.root.cssselect(plain)[:limit])
            except (SelectorError, ValueError, SyntaxError):
                found = ()
            self.selections[key] = found
        return self.selections[key]


def image_format(src: str) -> str:
    """'jpg' for '.../a.JPG?x=1', 'data:' for an inline image, '' when the URL does not say."""
    src = src.strip()
    if src.lower().startswith("data:"):
        return "data:"
    name = src.split("?")[0].split("#")[0].rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _message(feature: Feature, hits: dict, labels: dict, count: int) -> tuple[str, tuple[str, ...]]:
    groups: dict[tuple, list[str]] = {}
    for client in labels:  # in the data's client order
        if client in hits:
            groups.setdefault(hits[client], []).append(client)
    parts = []
    for (status, notes), clients in groups.items():
        kind = "not supported" if status == "n" else "partly supported"
        names = ", ".join(labels[c] for c in clients)
        parts.append(f"{kind} in {names}" + (f" ({' '.join(notes)})" if notes else ""))
    uses = f" [{count} places]" if count > 1 else ""
    clients = tuple(labels[c] for c in labels if c in hits)
    return f"{feature.title}: {'; '.join(parts)}{uses}", clients


def check_support(doc: Document):
    """Findings for each feature the email uses that a target client does not fully support."""
    collector = _Collector(doc)
    collector.walk()
    d = collector.data
    for feature_id, uses in collector.found.items():
        feature = d.by_id[feature_id]
        hits: dict = {}
        for _, hit in uses:
            for client, entry in hit.items():
                status, notes = hits.get(client, (entry[0], ()))
                status = "n" if "n" in (status, entry[0]) else "a"
                hits[client] = (status, tuple(dict.fromkeys(notes + entry[1])))
        first = uses[0][0]
        message, clients = _message(feature, hits, d.clients, len(uses))
        url = d.url.format(id=feature.id)
        layout = feature.id in BREAKS_LAYOUT
        fix = ("lay out with tables (role=\"presentation\") instead" if layout else
               "leave it out, or make sure the email reads well without it") + f"; see {url}"
        where = first.where or (describe(first.element) if first.element is not None else None)
        yield Finding("support", ERROR if layout else WARNING, message, fix, where, first.line, clients, len(uses))
