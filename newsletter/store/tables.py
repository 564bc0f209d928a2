"""The tables of the newest schema, in one place (older databases are upgraded by migrations.py)."""

from __future__ import annotations

import sqlalchemy as sa

CHUNK = 500  # ids per IN (...) query: well under SQLite's variable limit

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
articles = sa.Table(
    "articles", metadata,
    sa.Column("id", sa.String(2048), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("published", sa.DateTime, nullable=False),  # naive UTC
    sa.Column("topics", sa.Text, nullable=False),  # JSON list of display names, in order
    sa.Column("lede", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("image", sa.Text),
    sa.Column("content_hash", sa.String(40), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("updated", sa.DateTime, nullable=False),
    # False when the source gave no date and `published` is the date it was given on import.
    sa.Column("dated", sa.Boolean, nullable=False, server_default=sa.true()),
    # Markdown `draft: true`: kept out of every issue until the flag is removed.
    sa.Column("draft", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_articles_published", "published"),
    sa.Index("ix_articles_source", "source"),
)
topics = sa.Table(
    "topics", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(200), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
)
article_topics = sa.Table(
    "article_topics", metadata,
    sa.Column("article_id", sa.String(2048), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topic_id", sa.Integer, sa.ForeignKey("topics.id"), primary_key=True),
    # Copied from the article so a topic's articles can be range-scanned by date.
    sa.Column("published", sa.DateTime, nullable=False),
    sa.Index("ix_article_topics_topic_published", "topic_id", "published"),
)
issues = sa.Table(
    "issues", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(200), nullable=False),
    sa.Column("key", sa.String(32), nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("cutoff", sa.DateTime),  # naive UTC: what it carries was published at or before this
    # From the editor's draft file: the intro (sanitized HTML) and a subject or preheader of their own.
    sa.Column("intro", sa.Text),
    sa.Column("editor_subject", sa.Text),
    sa.Column("editor_preheader", sa.Text),
    sa.UniqueConstraint("digest", "key", name="uq_issues_digest_key"),
)
issue_articles = sa.Table(
    "issue_articles", metadata,
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("article_id", sa.String(2048), sa.ForeignKey("articles.id"), nullable=False),
    sa.Index("ix_issue_articles_article", "article_id"),
)
# Articles the editor deleted from an issue's draft: not offered again to a later issue of the digest.
issue_left_out = sa.Table(
    "issue_left_out", metadata,
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("article_id", sa.String(2048), sa.ForeignKey("articles.id"), primary_key=True),
    sa.Index("ix_issue_left_out_article", "article_id"),
)
# What `newsletter draft` listed in a draft file, so that the lines deleted from it are known at build time.
draft_offers = sa.Table(
    "draft_offers", metadata,
    sa.Column("digest", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("article_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("written", sa.DateTime, nullable=False),
)
# Each issue as it went out to subscribers, rendered for nobody in particular (no token, no address):
# written once when its first send starts, never changed after, so the archive shows what was sent.
archived_issues = sa.Table(
    "archived_issues", metadata,
    sa.Column("digest", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("sent", sa.DateTime, nullable=False),  # naive UTC: when the send to subscribers started
    sa.Column("html", sa.Text, nullable=False),  # the whole issue (never clipped for Gmail), CSS inlined
    sa.Column("text", sa.Text, nullable=False),
)
source_files = sa.Table(
    "source_files", metadata,
    sa.Column("key", sa.String(4096), primary_key=True),  # absolute path of a file below a path source
    sa.Column("mtime_ns", sa.BigInteger),  # with size: unchanged since the last read, so not read again
    sa.Column("size", sa.BigInteger),
    sa.Column("fingerprint", sa.String(64)),  # sha256 of the bytes last read: a touched file is not parsed again
    sa.Column("error", sa.Text),  # what was reported when it was last read; NULL when it read cleanly
    sa.Column("articles", sa.Integer, nullable=False, server_default=sa.text("0")),
)
source_states = sa.Table(
    "source_states", metadata,
    sa.Column("key", sa.String(4096), primary_key=True),  # a [[sources]] url, or the absolute path of its folder
    sa.Column("last_checked", sa.DateTime),  # naive UTC: the last sync that looked at it (for `every`)
    sa.Column("last_read", sa.DateTime),  # the last time it was read, or found unchanged, without failing
    sa.Column("articles", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text),  # why the last look failed (NULL when it did not), as reported then
    sa.Column("status", sa.Integer),  # the HTTP status of the last fetch
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("fingerprint", sa.String(64)),  # sha256 of the last body fetched: an unchanged feed is not parsed again
    sa.Column("moved_to", sa.Text),  # where a permanent redirect (301, 308) led
    sa.Column("gone", sa.Boolean, nullable=False, server_default=sa.false()),  # answered 410: not fetched again
)


subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # normalised
    sa.Column("name", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),  # active | unsubscribed (from everything)
    sa.Column("topics", sa.Text, nullable=False),  # JSON list of display names; empty = the whole issue
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("updated", sa.DateTime, nullable=False),
    # Signed into unsubscribe tokens, so a removed subscriber's token never matches whoever gets
    # the id next; "" for subscribers of release 1, whose links are already in inboxes.
    sa.Column("salt", sa.String(32), nullable=False, server_default=""),
    # SQLite would otherwise hand the id of the newest removed subscriber to the next one added.
    sqlite_autoincrement=True,
)
subscriber_digests = sa.Table(
    "subscriber_digests", metadata,
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", sa.String(200), primary_key=True),
    # active | unsubscribed (from this digest only: a token unsubscribes from its own digest)
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Index("ix_subscriber_digests_digest", "digest"),
)
# The rows of the ledger a send may still claim (see store/ledger.py for the states; unknown ones only
# with --retry-unknown). Claims find them through an index of these rows alone, in id order: reading the
# index of every row instead walked past all the rows already sent, so each claim near the end of a long
# issue read the whole issue. SQLite uses the index only for a query that repeats this condition word for
# word; PostgreSQL works the match out itself.
OPEN_DELIVERY = "status IN ('queued', 'claimed', 'unknown') OR (status = 'failed' AND NOT permanent)"
HELD_DELIVERY = "claimed_by IS NOT NULL"
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    # queued -> claimed -> sent | failed | unknown | skipped (see store/ledger.py)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("permanent", sa.Boolean, nullable=False, default=False),  # a 5xx refusal: not retried by a re-run
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.Text),
    sa.Column("variant", sa.Text),  # the topics that chose this subscriber's items
    sa.Column("updated", sa.DateTime, nullable=False),
    sa.Column("claimed_by", sa.String(128)),  # the sending process (host:pid:random) while claimed
    sa.Column("lease_until", sa.DateTime),  # naive UTC; after it, another sender may take the claim over
    sa.Column("retry_after", sa.DateTime),  # a transient failure: retried by a run that starts after this
    sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_deliveries_issue_subscriber"),
    sa.Index("ix_deliveries_issue_status", "issue_id", "status"),
    # Only the rows held right now: a result takes its row out instead of adding an entry for NULL.
    sa.Index("ix_deliveries_claimed_by", "claimed_by", postgresql_where=sa.text(HELD_DELIVERY),
             sqlite_where=sa.text(HELD_DELIVERY)),
    sa.Index("ix_deliveries_open", "issue_id", "id", postgresql_where=sa.text(OPEN_DELIVERY),
             sqlite_where=sa.text(OPEN_DELIVERY)),
)

# `newsletter serve`: sign-ups waiting for their confirmation (never subscribers, so never sent a digest),
# the queue of confirmation mails, and the rate limits every instance shares.
signups = sa.Table(
    "signups", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),  # normalised
    sa.Column("digests", sa.Text, nullable=False),  # JSON list
    sa.Column("topics", sa.Text, nullable=False),  # JSON list; empty = the whole issue
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 of the link's token
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("expires", sa.DateTime, nullable=False),  # naive UTC
    sa.Index("ix_signups_email", "email"),
)
mail_queue = sa.Table(
    "mail_queue", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # the whole message; emptied once sent (it holds a token)
    sa.Column("status", sa.String(16), nullable=False),  # queued -> claimed -> sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("lease_until", sa.DateTime),  # naive UTC; after it another instance may take the row over
    sa.Column("next_try", sa.DateTime, nullable=False),  # naive UTC
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("updated", sa.DateTime, nullable=False),
    sa.Index("ix_mail_queue_status_next", "status", "next_try"),
)
rate_events = sa.Table(
    "rate_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scope", sa.String(16), nullable=False),  # client | address
    sa.Column("key", sa.String(64), nullable=False),  # sha256 of the client address or email address
    sa.Column("at", sa.DateTime, nullable=False),  # naive UTC
    sa.Index("ix_rate_events_scope_key_at", "scope", "key", "at"),
)
