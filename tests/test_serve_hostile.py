"""Hostile cases against a real `newsletter serve` (uvicorn on 127.0.0.1): one-click variants, sign-up abuse,
a locked database, and what the archive does with hostile titles."""

from __future__ import annotations

import threading

from newsletter.pipeline import open_store
from newsletter.pipeline.subscribers import add_subscriber, list_subscribers

from tests.conftest import config_from
from tests.test_serve import HOST, browser, make_project, status_of, token_of
from tests.webserver import Browser, raw_request, running


def test_one_click_variants_answer_200_and_leave_once(tmp_path):
    config = config_from(make_project(tmp_path))
    for n in range(6):
        add_subscriber(config, f"r{n}@example.org", name=None, digests=[], topics=[])
    with running(config, mail=False) as server:
        h, p = server.host, server.port
        bodies = [
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click&x=1"),
            ("application/x-www-form-urlencoded; charset=UTF-8", b"List-Unsubscribe=One-Click"),
            ("text/plain", b"List-Unsubscribe=One-Click"),
            (None, b"List-Unsubscribe=One-Click"),
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click\r\n"),
            ("Application/X-WWW-Form-Urlencoded", b"List-Unsubscribe=One-Click"),
        ]
        for n, (ctype, body) in enumerate(bodies):
            token = token_of(config, f"r{n}@example.org")
            headers = {"Host": HOST, "Content-Length": str(len(body))}
            if ctype:
                headers["Content-Type"] = ctype
            for _ in range(2):
                assert raw_request(h, p, "POST", f"/unsubscribe/{token}", headers, body) == (200, "Unsubscribed.\n"), \
                    (ctype, body)
            assert status_of(config, f"r{n}@example.org") == ("active", ()), (ctype, body)
