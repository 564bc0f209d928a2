"""`newsletter serve`: the public web app (one-click unsubscribe, sign-up, preferences) -> pipeline.

Starlette under uvicorn: a small ASGI toolkit whose routing, form parsing and test of a real
server need no more than that, with no state of its own beyond the database, so several
instances run beside each other. Import `create_app` only with the [serve] extras installed.
"""

from newsletter.serve.run import listen, local_url, missing_extras, serve


def create_app(config, **options):
    """The ASGI app for a config (see serve/app.py)."""
    from newsletter.serve.app import create_app as make

    return make(config, **options)


__all__ = ["create_app", "listen", "local_url", "missing_extras", "serve"]
