"""Serve benchmark: RFC 8058 one-click POSTs per second and their p99 latency, 50 concurrent clients for
20 s, against `newsletter serve` (one uvicorn worker, its own process) on SQLite; beside it, measured in
the same run against the same server, a static file (/static/web.css) as the baseline.

Run: python tests/benchmarks/bench_serve.py [--seconds 20] [--connections 50] [--subscribers 60000]
     [--page PATH ...]
Needs `wrk` (apt-get install wrk). wrk runs on the same machine and competes with the server for
the cores: the figures are a floor, and the load average is printed beside them.

Each POST carries the next token of a list (one per subscriber, then round again), so the first
round unsubscribes (a write each) and later rounds find the reader already gone (a read each);
the split is printed. The default list is longer than 20 s of POSTs here, so every one is a
write; `--subscribers 5000` measures a mix. Then, under the same load, the archive: the page of one issue (the sample
articles, as built and kept) and its digest's page; `--page PATH` (repeatable) adds other GET pages.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime, timezone
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from newsletter.config import load_config  # noqa: E402
from newsletter.model import ArchivedIssue  # noqa: E402
from newsletter.pipeline import build, open_store  # noqa: E402
from newsletter.pipeline.send import secret_key  # noqa: E402
from newsletter.tokens import make_token  # noqa: E402

SAMPLE_DAY = date(2024, 10, 11)  # the day of the repository's two sample articles
ARCHIVE_PAGES = ["/archive/daily/2024-10-11/", "/archive/daily/"]

POST_SCRIPT = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
local i = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  -- each wrk thread starts half a list further on, so the first round holds no token twice
  i = (id or 0) * math.floor(#tokens / 2)
end
wrk.method = "POST"
wrk.body = "List-Unsubscribe=One-Click"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  i = i %% #tokens + 1
  return wrk.format(nil, "/unsubscribe/" .. tokens[i])
end
response = function(status, headers, body)
  if status ~= 200 then wrk.thread:set("bad", (wrk.thread:get("bad") or 0) + 1) end
end
"""


def make_project(root: Path, subscribers: int) -> tuple[Path, Path]:
    """A project with `subscribers` readers of one digest; (config path, file of their tokens)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "articles", root / "articles")
    path = root / "newsletter.toml"
    path.write_text('[newsletter]\ntitle = "Bench Picks"\nfrom = "Bench <bench@example.org>"\n'
                    '[[sources]]\npath = "articles"\n[digests.daily]\nwindow = "1d"\n')
    csv = "email,digests\n" + "".join(f"reader{n}@example.org,daily\n" for n in range(subscribers))
    (root / "readers.csv").write_text(csv)
    config = load_config(path)
    with open_store(config) as store:
        store.subscribers.import_csv(csv, "readers.csv", {"daily"}, ("daily",))
        key = secret_key(store)
        rows = store.subscribers.list()
        tokens = [make_token(key, s.id, "daily", store.subscribers.salt(s.id)) for s in rows]
    # One issue in the archive: the sample articles' issue as built (sending it would take minutes).
    built = build(config, "daily", SAMPLE_DAY)
    with open_store(config) as store:
        store.archive.keep(ArchivedIssue("daily", built.key, SAMPLE_DAY, built.subject or "", datetime.now(timezone.utc),
                                         html=built.files["html"].read_text(), text=built.files["txt"].read_text()))
    token_file = root / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    return path, token_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(config: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(config), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the server did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)  # polling for readiness, with a deadline


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    """Requests/s, p99 (ms) and errors of one wrk run."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    def percentile(n: int) -> float:
        found = re.search(rf"{n}%\s+([\d.]+)(us|ms|s)\b", out)
        return float(found[1]) * {"us": 0.001, "ms": 1, "s": 1000}[found[2]]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_errors = re.search(r"Socket errors: (.*)", out)
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return {"rps": rps, "p50": percentile(50), "p99": percentile(99), "requests": requests,
            "non2xx": int(errors[1]) if errors else 0, "socket": sock_errors[1] if sock_errors else "none"}


def line(label: str, r: dict) -> str:
    return (f"{label:<32} {r['rps']:7.0f} req/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms   "
            f"{r['requests']:6d} requests   "
            f"non-2xx {r['non2xx']}   socket errors: {r['socket']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=60_000)
    parser.add_argument("--page", action="append", default=[], help="another GET path to measure under the same load")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench_serve needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        config, tokens = make_project(Path(tmp) / "project", args.subscribers)
        script = Path(tmp) / "oneclick.lua"
        script.write_text(POST_SCRIPT % {"tokens": tokens})
        port = free_port()
        proc = start_server(config, port)
        base = f"http://127.0.0.1:{port}"
        try:
            print(f"newsletter serve, one uvicorn worker, SQLite; wrk -t2 -c{args.connections} -d{args.seconds}s "
                  f"on the same {os.cpu_count()}-core machine (it competes for the cores)")
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            static = wrk(base + "/static/web.css", args.seconds, args.connections)
            print(line("static file (baseline)", static))
            posts = wrk(base, args.seconds, args.connections, script)
            print(line("one-click POST", posts))
            for page in [*ARCHIVE_PAGES, *args.page]:
                print(line(f"GET {page}", wrk(base + page, args.seconds, args.connections)))
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            proc.terminate()
            proc.wait(30)
        with open_store(load_config(config)) as store:
            left = len(store.subscribers.list(digest="daily", status="unsubscribed"))
        print(f"one-click POSTs: {left} unsubscribed someone (a write), the other "
              f"{max(0, posts['requests'] - left)} found them gone already (a read); "
              f"{args.subscribers} tokens in rotation")
        print(f"goal: >= 500 req/s and p99 < 100 ms -> {posts['rps']:.0f} req/s, p99 {posts['p99']:.1f} ms: "
              + ("met" if posts["rps"] >= 500 and posts["p99"] < 100 else "NOT met"))


if __name__ == "__main__":
    main()
