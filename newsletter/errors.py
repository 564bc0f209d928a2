"""One exception tree: everything a user can get wrong is a NewsletterError."""

from __future__ import annotations


class NewsletterError(Exception):
    """A problem the user can fix: says what went wrong, where, and how to fix it."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class ConfigError(NewsletterError):
    """newsletter.toml is missing, malformed or holds a bad value."""


class SourceError(NewsletterError):
    """An input (file, feed, URL) cannot be read at all."""


class StoreError(NewsletterError):
    """The database cannot be opened or has the wrong schema."""


class StoreBusyError(StoreError):
    """The database is there but cannot take a write just now (locked, disk full, connection lost): worth a retry."""


class ComposeError(NewsletterError):
    """A template is missing or broken."""


class CheckError(NewsletterError):
    """What was given to check is not an email, or an issue with errors was about to be sent."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None, findings: tuple = ()):
        super().__init__(message, where=where, hint=hint)
        self.findings = findings  # the check's findings, for the caller to list


class DeliveryError(NewsletterError):
    """The outbox cannot be written or the mail server refused us."""


class SubscriberError(NewsletterError):
    """An address or subscriber row that cannot be stored."""


class DraftError(NewsletterError):
    """An editor's draft file of an issue that cannot be used as it stands."""


class ArchiveNotFound(NewsletterError):
    """No such digest or issue in the public archive (the web app answers 404)."""


class ArchiveError(NewsletterError):
    """The static archive cannot be written where it was asked to go."""
