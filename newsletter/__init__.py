"""newsletter: compose an editors'-picks digest email from articles, and deliver it."""

__version__ = "0.1.0"

from newsletter.errors import NewsletterError
from newsletter.model import Article

__all__ = ["Article", "NewsletterError", "__version__"]
