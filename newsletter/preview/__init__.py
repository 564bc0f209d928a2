"""The local preview server: the email as `newsletter build` writes it, in a browser, re-rendered on every save.

Calls the pipeline only (newsletter.pipeline.preview); records nothing and sends nothing.
"""

from newsletter.preview.server import PreviewServer, Previewer, is_loopback, make_server

__all__ = ["PreviewServer", "Previewer", "is_loopback", "make_server"]
