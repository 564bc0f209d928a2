"""The preview's own pages: the index, the wrapper around the email (toolbar, headers, script) and errors.

Nothing here ever reaches the email route: its bytes are the rendered email alone.
"""

from __future__ import annotations

from datetime import date
from html import escape

STYLE = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6473; --line: #d9dee6; --bg: #eef1f5; --accent: #2557c7;
        --warn: #b3261e; --near: #9a6700; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); }
a { color: var(--accent); }
.bar { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px;
       padding: 8px 16px; background: #fff; border-bottom: 1px solid var(--line); box-shadow: 0 1px 3px rgb(0 0 0 / 6%); }
.bar .home { text-decoration: none; font-weight: 600; white-space: nowrap; }
.bar .where { font-weight: 600; white-space: nowrap; margin-right: auto; }
.bar .where span { color: var(--muted); font-weight: 400; }
.seg { display: inline-flex; border: 1px solid var(--line); border-radius: 7px; overflow: hidden; }
.seg button { font: inherit; border: 0; padding: 4px 11px; background: #fff; color: var(--ink); cursor: pointer; }
.seg button + button { border-left: 1px solid var(--line); }
.seg button[aria-pressed="true"] { background: var(--ink); color: #fff; }
.seg button:disabled { opacity: .4; cursor: default; }
.bar select, .bar .plain { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 7px;
                           background: #fff; color: var(--ink); }
.bar select { width: 15em; text-overflow: ellipsis; }
.bar .plain { cursor: pointer; }
.bar .plain[aria-pressed="true"] { background: #e8eefc; border-color: #b8c7ee; }
.status { font-size: 12px; color: var(--muted); white-space: nowrap; }
.status::before { content: "\\25CF "; color: #1a7f37; }
.status.stopped::before { color: var(--warn); }
.panel { margin: 12px auto 0; max-width: 980px; padding: 10px 16px; background: #fff; border: 1px solid var(--line);
         border-radius: 10px; }
.panel dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; }
.panel dt { color: var(--muted); }
.panel dd { margin: 0; overflow-wrap: anywhere; }
.panel .error, .notes .error { color: var(--warn); white-space: pre-wrap; font-family: ui-monospace, monospace; }
.notes { margin: 6px 0 0; padding: 0; list-style: none; color: var(--muted); }
.notes li::before { content: "\\2139\\FE0E  "; }
.notes .warn, .notes .skipped { color: var(--near); }
.size { font-variant-numeric: tabular-nums; }
.size.near { color: var(--near); font-weight: 600; }
.size.over { color: var(--warn); font-weight: 700; }
.stage { display: flex; justify-content: center; padding: 16px 12px 40px; }
/* content-box: the email's viewport is exactly 680 or 375 px, the border is outside it */
.stage iframe { box-sizing: content-box; display: block; width: 680px; height: 600px; border: 1px solid var(--line); background: #fff;
                box-shadow: 0 2px 12px rgb(0 0 0 / 8%); }
.stage.mobile iframe { width: 375px; border-radius: 18px; }
.stage pre { margin: 0; width: 680px; max-width: 100%; padding: 18px 22px; background: #fff; border: 1px solid var(--line);
             font: 13px/1.5 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
[hidden] { display: none !important; }
main.index { max-width: 860px; margin: 24px auto; padding: 0 16px; }
main.index section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; margin: 0 0 16px; }
main.index h2 { margin: 0 0 8px; font-size: 18px; }
main.index h2 small { color: var(--muted); font-weight: 400; }
main.index ul { margin: 0 0 10px; padding-left: 20px; }
main.index form { display: flex; gap: 8px; align-items: center; }
"""

# The colour-scheme switch. Chromium (checked on 156) ignores the iframe element's
# `color-scheme` when it evaluates `prefers-color-scheme` inside the frame, and only
# DevTools emulation changes it there. So the wrapper rewrites the frame's own CSSOM:
# each `(prefers-color-scheme: X)` becomes a query that is always true or always false,
# and the frame's root gets `color-scheme` so the browser's own colours follow too. It
# works in any browser, whatever the OS setting, and changes nothing the server sends.
SCRIPT = r"""
(() => {
  const root = document.documentElement;
  const base = root.dataset.base;
  const state = Object.fromEntries(["view", "scheme", "tab", "variant", "headers"].map(k => [k, root.dataset[k] || ""]));
  let version = Number(root.dataset.version);
  const $ = id => document.getElementById(id);
  const frame = $("email"), text = $("text"), stage = $("stage");
  const originals = new WeakMap();

  const query = () => state.variant ? "?variant=" + encodeURIComponent(state.variant) : "";
  const emailUrl = () => base + "email.html" + query();

  function save() {
    const keep = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v && v !== root.dataset["default" + k]) keep.set(k, v);
    history.replaceState(null, "", base + (keep.toString() ? "?" + keep : ""));
  }

  function applyScheme() {
    const doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    const re = /\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)/gi;
    const fix = media => {
      if (!media) return;
      if (!originals.has(media)) originals.set(media, media.mediaText);
      media.mediaText = originals.get(media).replace(re, (_, v) =>
        v.toLowerCase() === state.scheme ? "(min-width: 0px)" : "(max-width: -1px)");
    };
    const walk = rules => { for (const r of rules) { if (r.media) fix(r.media); if (r.cssRules) walk(r.cssRules); } };
    for (const sheet of doc.styleSheets) { fix(sheet.media); try { walk(sheet.cssRules); } catch (e) { /* cross-origin */ } }
    doc.documentElement.style.colorScheme = state.scheme;
  }

  function fitFrame() {
    const doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    frame.style.height = "200px";  // shrink first: scrollHeight never reports less than the viewport
    frame.style.height = Math.max(doc.documentElement.scrollHeight, 200) + "px";
  }

  frame.addEventListener("load", () => {
    applyScheme();
    fitFrame();
    const doc = frame.contentDocument;
    // Links open in a new tab: following one inside the frame would leave the preview.
    if (doc) doc.addEventListener("click", e => {
      const a = e.target.closest && e.target.closest("a[href]");
      if (a && !a.getAttribute("href").startsWith("#")) { e.preventDefault(); window.open(a.href, "_blank", "noopener"); }
    });
  });

  function row(dl, name, value, cls) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = name; dd.textContent = value; if (cls) dd.className = cls;
    dl.append(dt, dd);
    return dd;
  }

  async function loadInfo() {
    const dl = $("fields"), notes = $("notes");
    let info;
    try { info = await (await fetch(base + "info.json" + query(), {cache: "no-store"})).json(); }
    catch (e) { return; }
    dl.replaceChildren(); notes.replaceChildren();
    if (info.error) { row(dl, "Error", info.error, "error"); return; }
    for (const [name, value] of info.headers) row(dl, name, value);
    row(dl, "Preheader", info.preheader || "(none)");
    const kb = n => (n / 1024).toFixed(1) + " KB";
    const size = row(dl, "HTML size", `${kb(info.html_bytes)} of Gmail's ~${kb(info.clip_bytes)} clipping point`
      + (info.html_bytes > info.clip_bytes ? ": Gmail will clip it" : "") + ` \u00b7 text ${kb(info.text_bytes)}`, "size");
    size.classList.toggle("over", info.html_bytes > info.clip_bytes);
    size.classList.toggle("near", info.html_bytes <= info.clip_bytes && info.html_bytes > 0.9 * info.clip_bytes);
    size.id = "size";
    row(dl, "Articles", `${info.titles.length} \u00b7 ` + (info.recorded ? "as recorded by `newsletter build`"
      : "a fresh selection (not recorded)"));
    const select = $("variant");
    select.replaceChildren(...info.variants.map(v => {
      const o = document.createElement("option");
      o.value = v.key;
      const plural = (n, w) => `${n} ${w}${n === 1 ? "" : "s"}`;
      o.textContent = `${v.label} \u00b7 ${plural(v.subscribers, "subscriber")} \u00b7 `
        + (v.items ? plural(v.items, "item") : "no items: send skips them"); o.selected = v.key === info.variant;
      return o;
    }));
    for (const [cls, line] of info.notes) {
      const li = document.createElement("li"); li.textContent = line; li.className = cls; notes.append(li);
    }
  }

  async function loadText() {
    const r = await fetch(base + "email.txt" + query(), {cache: "no-store"});
    text.textContent = await r.text();
    text.classList.toggle("error", !r.ok);
  }

  function show() {
    for (const b of document.querySelectorAll("[data-set]")) {
      const [k, v] = b.dataset.set.split(":");
      b.setAttribute("aria-pressed", String(state[k] === v));
    }
    stage.classList.toggle("mobile", state.view === "mobile");
    // Width and colour scheme only apply to the HTML part.
    for (const b of document.querySelectorAll('[data-set^="view:"], [data-set^="scheme:"]')) b.disabled = state.tab !== "html";
    frame.hidden = state.tab !== "html";
    text.hidden = state.tab !== "text";
    $("headers").hidden = state.headers === "off";
    $("toggle-headers").setAttribute("aria-pressed", String(state.headers !== "off"));
    applyScheme();
    requestAnimationFrame(fitFrame);
  }

  function refresh() {
    frame.contentWindow.location.replace(emailUrl());
    loadInfo();
    if (state.tab === "text") loadText();
  }

  document.addEventListener("click", e => {
    const b = e.target.closest("[data-set]");
    if (!b) return;
    const [k, v] = b.dataset.set.split(":");
    state[k] = v;
    if (k === "tab" && v === "text") loadText();
    save(); show();
  });
  $("toggle-headers").addEventListener("click", () => {
    state.headers = state.headers === "off" ? "on" : "off"; save(); show();
  });
  $("variant").addEventListener("change", e => { state.variant = e.target.value; save(); refresh(); });

  async function poll() {
    try {
      const r = await fetch("/__version", {cache: "no-store"});
      const now = (await r.json()).version;
      $("status").textContent = "live"; $("status").classList.remove("stopped");
      if (now !== version) { version = now; refresh(); }
    } catch (e) {
      $("status").textContent = "preview server stopped"; $("status").classList.add("stopped");
    }
    setTimeout(poll, 400);
  }

  show();
  loadInfo();
  if (state.tab === "text") loadText();
  setTimeout(poll, 400);
})();
"""

# The index reloads itself on a change too, so a broken config shows its fix without a keystroke.
INDEX_SCRIPT = r"""
(() => {
  const version = Number(document.documentElement.dataset.version);
  async function poll() {
    try { if ((await (await fetch("/__version", {cache: "no-store"})).json()).version !== version) location.reload(); }
    catch (e) { /* server stopped */ }
    setTimeout(poll, 400);
  }
  setTimeout(poll, 400);
})();
"""

DEFAULTS = {"view": "desktop", "scheme": "light", "tab": "html", "variant": "", "headers": "on"}
CHOICES = {"view": ("desktop", "mobile"), "scheme": ("light", "dark"), "tab": ("html", "text"), "headers": ("on", "off")}


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def wrapper_page(*, digest: str, title: str, key: str, version: int, options: dict[str, str]) -> str:
    """The page around the email: toolbar, headers panel and the <iframe> of the email route."""
    base = f"/{digest}/{key}/"
    state = {k: options.get(k) or v for k, v in DEFAULTS.items()}
    state.update({k: DEFAULTS[k] for k, allowed in CHOICES.items() if state[k] not in allowed})
    data = " ".join(f'data-{k}="{_attr(v)}"' for k, v in state.items())
    data += " " + " ".join(f'data-default{k}="{_attr(v)}"' for k, v in DEFAULTS.items())
    src = base + "email.html" + (f"?variant={_quote(state['variant'])}" if state["variant"] else "")

    def seg(label: str, name: str, choices: list[tuple[str, str]]) -> str:
        buttons = "".join(f'<button type="button" data-set="{name}:{v}" id="{name}-{v}">{escape(t)}</button>'
                          for v, t in choices)
        return f'<div class="seg" role="group" aria-label="{label}">{buttons}</div>'

    return f"""<!DOCTYPE html>
<html lang="en" data-base="{_attr(base)}" data-version="{version}" {data}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview: {escape(title)} {escape(key)}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<header class="bar">
<a class="home" href="/" title="All digests and issues">&#8592; Issues</a>
<div class="where">{escape(title)} <span>{escape(digest)} &middot; {escape(key)}</span></div>
{seg("Width", "view", [("desktop", "Desktop 680"), ("mobile", "Mobile 375")])}
{seg("Colour scheme", "scheme", [("light", "Light"), ("dark", "Dark")])}
{seg("Part", "tab", [("html", "HTML"), ("text", "Text")])}
<select id="variant" aria-label="Topic variant" title="Render the issue as a topic variant of the subscribers gets it">
<option value="{_attr(state['variant'])}" selected>{escape(state['variant'] or 'everyone (all topics)')}</option>
</select>
<button type="button" class="plain" id="toggle-headers">Headers</button>
<span class="status" id="status">live</span>
</header>
<section class="panel" id="headers" aria-label="Message headers"><dl id="fields"></dl><ul class="notes" id="notes"></ul></section>
<main class="stage" id="stage">
<iframe id="email" title="The email" src="{_attr(src)}" sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"></iframe>
<pre id="text" hidden></pre>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def index_page(*, digests: list, start: tuple[str, date] | None, version: int, error: str | None = None) -> str:
    """The list of configured digests: today, the date given on the command line, recent issues, any date."""
    parts = []
    if error:
        parts.append(f'<section><h2>The configuration cannot be loaded</h2><pre class="error">{escape(error)}</pre>'
                     "<p>Fix it and save: this page reloads by itself.</p></section>")
    for d in digests:
        links = [f'<li><a href="/{_attr(d.name)}/{d.today.isoformat()}/">Today, {d.today:%A %d %B %Y}</a></li>']
        if start and start[0] == d.name and start[1] != d.today:
            links.append(f'<li><a href="/{_attr(d.name)}/{start[1].isoformat()}/">{start[1]:%A %d %B %Y}</a> '
                         "(from the command line)</li>")
        for issue in d.issues:
            links.append(f'<li><a href="/{_attr(d.name)}/{_attr(issue.key)}/">{escape(issue.key)}</a> '
                         f"&middot; {escape(issue.subject)} <small>(recorded)</small></li>")
        parts.append(f"""<section><h2>{escape(d.title)} <small>{escape(d.name)}</small></h2>
<ul>{''.join(links)}</ul>
<form action="/__go" method="get"><input type="hidden" name="digest" value="{_attr(d.name)}">
<label>Another date <input type="date" name="date" required></label><button type="submit">Preview</button></form>
</section>""")
    return f"""<!DOCTYPE html>
<html lang="en" data-version="{version}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Newsletter preview</title><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<header class="bar"><div class="where">Newsletter preview <span>nothing here is recorded or sent</span></div>
<span class="status">live</span></header>
<main class="index">{''.join(parts)}</main>
<script>{INDEX_SCRIPT}</script>
</body>
</html>
"""


def error_page(title: str, message: str, fixable: bool = False) -> str:
    """A page with one error (no script: it is what the email route shows instead of the email)."""
    after = "<p>Fix it and save: the preview re-renders by itself.</p>" if fixable else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body {{ margin: 0; padding: 28px; font: 15px/1.5 system-ui, sans-serif; color: #1d2430; background: #fff5f4; }}
h1 {{ margin: 0 0 12px; font-size: 18px; color: #b3261e; }}
pre {{ margin: 0 0 14px; padding: 12px 14px; background: #fff; border: 1px solid #f0c8c4; border-radius: 8px;
      white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.5 ui-monospace, monospace; }}
p {{ color: #5b6473; }}</style></head>
<body><h1>{escape(title)}</h1><pre id="error">{escape(message)}</pre>
{after}</body>
</html>
"""


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
