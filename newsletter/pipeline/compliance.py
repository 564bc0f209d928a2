"""What mail to subscribers must carry: a way to unsubscribe (RFC 8058, the big mailbox providers'
rules for bulk senders), and the sender's postal address (CAN-SPAM)."""

from __future__ import annotations

from newsletter.config import Config
from newsletter.errors import ConfigError


def require_way_out(config: Config) -> None:
    """ConfigError naming the key to set when subscribers would get mail they have no way to leave."""
    # Read from the config as loaded, so a default filled in there (a public unsubscribe page) counts.
    if config.unsubscribe_url or (config.unsubscribe_mailto or "").strip():
        return
    raise ConfigError("is not set, nor unsubscribe_mailto: subscribers would get mail with no way to unsubscribe",
                      where=f"{config.path}: newsletter.unsubscribe_url",
                      hint='set unsubscribe_url = "https://example.org/unsubscribe?token={token}" '
                           'or unsubscribe_mailto = "unsubscribe@example.org" in [newsletter]')


def sending_warnings(config: Config) -> list[str]:
    """What a send to subscribers should have but can go without."""
    if (config.address or "").strip():
        return []
    return [f"{config.path}: newsletter.address is not set: CAN-SPAM asks for the sender's postal address in "
            'every commercial email (set address = "Example Media, 1 Main Street, Springfield")']
