"""The scheduled job: one run of a digest (sync, select, compose, deliver), logged in one line, never raising.

APScheduler 3 does not hand a job its scheduled time, so `run_digest` works it out: the
latest fire time, at or before now, of the digest's trigger rebuilt from the config (see
`newsletter.cadence.latest_run`). A job starts within misfire_grace of its time or not at
all, and never before it, so that is the time it was scheduled for. The issue key comes from
that time, never from the clock, so a late or repeated run lands on the same issue.

A run that failed, or left deliveries to retry, asks for a retry (`RunOutcome.retry_at`,
with backoff, only within the digest's misfire_grace); the scheduler turns that into a
one-off job (schedule.py), which calls `run_digest` again with the scheduled time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from newsletter import compose
from newsletter.cadence import latest_run
from newsletter.config import Config, Digest, load_config
from newsletter.deliver import FILES, issue_dir
from newsletter.errors import NewsletterError
from newsletter.pipeline.build import build_slot
from newsletter.pipeline.common import delivers_personally, open_store
from newsletter.pipeline.ingest import sync
from newsletter.select import IssueSlot, slot_for_run
from newsletter.store import Store

log = logging.getLogger(__name__)

# Set by `schedule run` on SIGTERM or Ctrl-C: a send in progress finishes its current message.
# Module-level because a stored job gets only primitive arguments (the config path, the digest).
STOP = threading.Event()
# Two digests due at once would read the same sources into the same tables: one sync at a time.
_SYNC_LOCK = threading.Lock()
MAX_REJECTIONS_LOGGED = 5
RETRY_FIRST, RETRY_MAX = timedelta(seconds=30), timedelta(minutes=30)  # doubling from the first


@dataclass
class RunOutcome:
    """What one run did; `status` is built, sent, skipped, already, interrupted or failed."""

    digest: str
    key: str | None
    status: str
    detail: str
    articles: int = 0
    level: int = logging.INFO
    retryable: bool = False  # failed, or left deliveries that a later run may still make
    scheduled: datetime | None = None  # the run's scheduled time
    retry_at: datetime | None = None  # when the scheduler should run it again (None: no retry)
    attempt: int = 0  # the retry this is (0: the scheduled run itself)


def run_digest(config_path: str, digest_name: str, scheduled: datetime | str | None = None, attempt: int = 0, *,
               now: datetime | None = None) -> RunOutcome:
    """One scheduled run (or retry) of a digest; logs one line, records a failure on the issue, never raises."""
    config: Config | None = None
    key: str | None = None
    when: datetime | None = None
    digest: Digest | None = None
    trace: BaseException | None = None
    try:
        config = load_config(config_path)  # read on every run: source and theme edits apply at once
        compose.forget_templates(config)
        digest = config.digest(digest_name)
        when = _scheduled_time(digest, scheduled, now)
        slot = slot_for_run(digest, when)
        key = slot.key
        outcome = _send(config, digest, slot) if delivers_personally(digest) else _build(config, digest, slot)
    except NewsletterError as exc:
        outcome = _failed(config, digest_name, key, str(exc))
    except Exception as exc:  # a bug must not take the scheduler down, nor hide the next runs
        outcome, trace = _failed(config, digest_name, key, f"{type(exc).__name__}: {exc}"), exc
    outcome.scheduled, outcome.attempt = when, attempt
    retry = _plan_retry(digest, outcome, now or datetime.now(timezone.utc)) if digest and when else ""
    articles = f"{outcome.articles} article{'s' if outcome.articles != 1 else ''}, " if outcome.articles else ""
    log.log(outcome.level, "digest %s issue %s: %s%s: %s%s", outcome.digest, outcome.key or "?", articles,
            outcome.status, outcome.detail, retry, exc_info=trace)  # a traceback only for what is not a user's error
    return outcome


def _plan_retry(digest: Digest, outcome: RunOutcome, now: datetime) -> str:
    """Set outcome.retry_at when the run should be retried within the digest's misfire_grace; the words for the log."""
    if not outcome.retryable or outcome.key is None or STOP.is_set():
        return ""
    at = now + min(RETRY_FIRST * 2 ** outcome.attempt, RETRY_MAX)
    if at > outcome.scheduled + digest.misfire_grace:
        return f"; not retried: the next retry would fall after misfire_grace {digest.misfire_grace}"
    outcome.retry_at = at.replace(microsecond=0)
    return f"; retry {outcome.attempt + 1} at {outcome.retry_at.astimezone(digest.timezone).isoformat()}"


def _scheduled_time(digest: Digest, scheduled: datetime | str | None, now: datetime | None) -> datetime:
    if isinstance(scheduled, str):
        scheduled = datetime.fromisoformat(scheduled)
    if scheduled is not None:
        return scheduled if scheduled.tzinfo else scheduled.replace(tzinfo=digest.timezone)
    now = now or datetime.now(timezone.utc)
    found = latest_run(digest, now)
    if found is None:
        # The job fired on the trigger it was stored with; the config says otherwise now.
        log.warning("digest %s: the cadence in the config (%s) does not match the running schedule; "
                    "restart `newsletter schedule run` to apply it", digest.name,
                    digest.cadence.text if digest.cadence else "none")
        found = now.replace(microsecond=0)
    return found


def _sync(config: Config, store: Store) -> None:
    with _SYNC_LOCK:
        report = sync(config, store)
    for rejection in report.rejected[:MAX_REJECTIONS_LOGGED]:
        log.warning("sync: rejected %s", rejection)
    if len(report.rejected) > MAX_REJECTIONS_LOGGED:
        log.warning("sync: %d more rejected (see `newsletter sync`)", len(report.rejected) - MAX_REJECTIONS_LOGGED)


def _build(config: Config, digest: Digest, slot: IssueSlot) -> RunOutcome:
    folder = issue_dir(config.outbox, digest.name, slot.key)
    with open_store(config) as store:
        _sync(config, store)
        issue = store.get_issue(digest.name, slot.key)
        # Recorded and on disk: built. Recorded only: a crash or full disk stopped the last run halfway.
        if issue is not None and (folder / FILES["eml"]).is_file():
            return RunOutcome(digest.name, slot.key, "already", f"already built in {folder}; nothing to do",
                              len(issue.articles))
        result = build_slot(config, store, digest, slot, now=datetime.now(digest.timezone))
    if result.skipped:
        return RunOutcome(digest.name, slot.key, "skipped", result.reason or "nothing to build")
    found = f"; check: {result.check.summary()}" if result.check is not None else ""
    return RunOutcome(digest.name, slot.key, "built", f"written to {folder}{found}", len(result.articles),
                      logging.WARNING if result.check is not None and result.check.errors else logging.INFO)


def _send(config: Config, digest: Digest, slot: IssueSlot) -> RunOutcome:
    from newsletter.pipeline.compliance import sending_warnings
    from newsletter.pipeline.send import send_to_subscribers

    for warning in sending_warnings(config):
        log.warning("digest %s: %s", digest.name, warning)
    with open_store(config) as store:
        _sync(config, store)
        existed = store.get_issue(digest.name, slot.key) is not None
    # No confirm callback: the scheduler sends as `send --subscribers --yes` does.
    report = send_to_subscribers(config, digest.name, slot=slot, stop=STOP, sync_first=False,
                                 now=datetime.now(digest.timezone))
    with open_store(config) as store:
        issue = store.get_issue(digest.name, slot.key)
        size = len(issue.articles) if issue else 0
        if issue is None:
            return RunOutcome(digest.name, slot.key, "skipped", report.nothing or "nothing to send")
        _note_failures(store, issue, report)
    counts = (f"sent to {report.sent}, {report.skipped} skipped, {len(report.failed)} failed"
              + (f", {len(report.unknown)} unknown" if report.unknown else "")
              + (f", {report.already} had it already" if report.already else ""))
    if report.interrupted:
        return RunOutcome(digest.name, slot.key, "interrupted",
                          f"{counts}; {report.remaining} not sent yet: the next start of `schedule run` within "
                          f"misfire_grace resumes them{_by_hand(digest, slot.key, slot.issue_date)}",
                          size, logging.WARNING)
    if report.nothing and existed:
        return RunOutcome(digest.name, slot.key, "already", report.nothing, size)
    if report.nothing and not (report.already or report.skipped):
        return RunOutcome(digest.name, slot.key, "sent", "nobody to send to: the digest has no active subscribers",
                          size, logging.WARNING)
    if report.nothing:
        return RunOutcome(digest.name, slot.key, "sent", report.nothing, size)
    left = report.remaining - report.elsewhere  # transient failures, and rows given back: a retry sends them
    detail = counts + (f"; {left} to retry" if left else "")
    return RunOutcome(digest.name, slot.key, "sent", detail, size,
                      logging.WARNING if report.failed or report.unknown else logging.INFO, retryable=left > 0)


def _note_failures(store: Store, issue, report) -> None:
    """Keep on the issue why deliveries failed; clear an earlier error once a send went through."""
    if report.failed:
        first = report.failed[0]
        store.update_issue(issue.id, error=f"{len(report.failed)} deliveries failed, e.g. {first[0]}: {first[1]}")
    elif issue.error and not report.interrupted:
        store.update_issue(issue.id, error=None)


def _by_hand(digest: Digest, key: str, issue_date) -> str:
    """How to finish an issue by hand: `send --date` names issues by date, so only daily-or-longer ones."""
    if len(key) != 10:
        return ""
    return f" (or by hand: newsletter send {digest.name} --subscribers --yes --date {issue_date})"


def _failed(config: Config | None, digest_name: str, key: str | None, cause: str) -> RunOutcome:
    """Record the cause on the issue when it exists (`newsletter issues` shows it); the outcome to log."""
    where = "not recorded: no issue yet"
    if config is not None and key is not None:
        try:
            with open_store(config) as store:
                issue = store.get_issue(digest_name, key)
                if issue is not None:
                    store.update_issue(issue.id, error=cause)
                    where = "recorded on the issue"
        except Exception as exc:  # the database may be what failed
            where = f"not recorded: {exc}"
    return RunOutcome(digest_name, key, "failed", f"{cause} ({where})", level=logging.ERROR, retryable=True)


def resume_interrupted(config: Config, *, now: datetime | None = None) -> list[RunOutcome]:
    """Finish sending issues of personal-delivery digests that a stop or crash left partly sent within their grace."""
    from newsletter.pipeline.send import send_to_subscribers

    now = now or datetime.now(timezone.utc)
    todo: list[tuple[Digest, IssueSlot]] = []
    with open_store(config) as store:
        for digest in config.digests.values():
            if not delivers_personally(digest) or digest.cadence is None:
                continue
            issues = [i for i in store.list_issues(digest.name) if i.id is not None]
            counts = store.ledger.counts([i.id for i in issues])
            for issue in issues:
                left = counts.get(issue.id)
                if left is None or not left.open:  # a stop, a crash, an unreachable server, transient failures
                    continue
                if issue.created is None or now - issue.created > digest.misfire_grace:
                    log.warning("digest %s issue %s: %d deliveries left unsent, too old to resume on start "
                                "(misfire_grace %s)%s", digest.name, issue.key, left.open, digest.misfire_grace,
                                _by_hand(digest, issue.key, issue.issue_date))
                    continue
                todo.append((digest, IssueSlot(key=issue.key, issue_date=issue.issue_date, start=issue.created,
                                               end=issue.created)))
    outcomes = []
    for digest, slot in todo:
        if STOP.is_set():
            break
        try:
            report = send_to_subscribers(config, digest.name, slot=slot, stop=STOP, sync_first=False,
                                         now=datetime.now(digest.timezone))
            with open_store(config) as store:
                _note_failures(store, store.get_issue(digest.name, slot.key), report)
            outcome = RunOutcome(digest.name, slot.key, "resumed",
                                 f"sent to {report.sent}, {len(report.failed)} failed, {report.already} had it already")
        except NewsletterError as exc:
            outcome = _failed(config, digest.name, slot.key, str(exc))
        log.log(outcome.level, "digest %s issue %s: %s: %s", outcome.digest, outcome.key, outcome.status,
                outcome.detail)
        outcomes.append(outcome)
    return outcomes
