"""Building an issue: its articles (the editor's draft, the recorded ones, or the rule's), render, record, write."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from newsletter import compose
from newsletter.check import Report
from newsletter.config import Config, Digest
from newsletter.deliver import outbox
from newsletter.model import Article, Issue, Rendered
from newsletter.pipeline.checking import check_rendered
from newsletter.pipeline.common import open_store
from newsletter.pipeline.drafts import draft_path, read_draft, write_draft
from newsletter.pipeline.ingest import ImportReport, Progress, sync
from newsletter.select import IssueSlot, held_over, select_articles, select_issue, slot_for_date
from newsletter.store import Store

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    digest: str
    key: str
    issue_date: date
    subject: str | None = None
    articles: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False
    reason: str | None = None
    sync: ImportReport | None = None
    cutoff: datetime | None = None
    held_over: int = 0
    check: Report | None = None                     # the checks of the message as a subscriber gets it
    # What to tell the editor: the draft used, articles held over, what the clip guard left out.
    notes: list[str] = field(default_factory=list)


def build(config: Config, digest_name: str | None = None, day: date | None = None, *, force: bool = False,
          sync_first: bool = True, now: datetime | None = None, progress: Progress | None = None) -> BuildResult:
    """Build one issue of a digest (by date) into the outbox and record it."""
    with _day_issue(config, digest_name, day, sync_first, now, progress) as (store, digest, slot, now, synced):
        result = build_slot(config, store, digest, slot, force=force, now=now)
        result.sync = synced
        return result


@contextmanager
def _day_issue(config: Config, digest_name: str | None, day: date | None, sync_first: bool, now: datetime | None,
               progress: Progress | None = None):
    """What build, draft and check of an issue by date start from: (store, digest, slot, now, sync report)."""
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot_for_date(digest, day or now.astimezone(digest.timezone).date())
    with open_store(config) as store:
        yield store, digest, slot, now, sync(config, store, progress) if sync_first else None


@dataclass(frozen=True)
class IssuePlan:
    """An issue about to be written (nothing recorded yet): its articles and what to tell the editor about them."""

    issue: Issue
    recorded: bool
    skip_reason: str | None  # set when build would write nothing
    held_over: int = 0  # eligible for this issue, not in it: they wait for the next one
    left_out: tuple[str, ...] = ()  # deleted from the editor's draft: never offered again
    notes: tuple[str, ...] = ()
    held_note: str | None = None  # what the held-over articles are waiting for, said for this issue's case

    @property
    def messages(self) -> list[str]:
        """Everything to tell the editor about this issue (build prints them, the preview shows them)."""
        return [*self.notes, *filter(None, [self.held_note])]


def sending_started(store: Store, issue: Issue | None) -> bool:
    """Has any delivery of this recorded issue been queued or made? From then on it is kept as it is."""
    return issue is not None and issue.id in store.ledger.counts([issue.id])


def plan_issue(config: Config, store: Store, digest: Digest, slot: IssueSlot, force: bool = False) -> IssuePlan:
    """The issue as build would write it, recording nothing.

    Its articles come from the editor's draft file when there is one; else from the recorded
    issue (a rebuild re-renders what it carried), unless `force`; else from the selection rule.
    Once sending has begun, the recorded issue is kept whatever the draft or `force` say.
    """
    previous = store.get_issue(digest.name, slot.key)
    notes = [slot.note] if slot.note else []
    started = sending_started(store, previous)
    choice = None if started else read_draft(config, store, digest, slot.key)
    if started and (force or draft_path(config, digest.name, slot.key).exists()):
        notes.append(f"sending of {digest.name} {slot.key} has begun: it keeps the articles it was sent with")
    if choice is not None:
        articles, left_out = choice.articles, tuple(choice.left_out)
        editor = dict(intro=choice.intro, editor_subject=choice.subject, editor_preheader=choice.preheader)
        held = held_over(store, digest, slot, [a.id for a in articles] + list(left_out))
        notes.append(f"the articles, their order and the intro are the editor's, from {choice.path}")
        held_note = (f"{held} more eligible article{_s(held)} not in the draft wait{'' if held > 1 else 's'} "
                     "for the next issue (add a line to carry one now)")
    elif previous is not None and (started or not force):
        articles, left_out = list(previous.articles), ()
        editor = dict(intro=previous.intro, editor_subject=previous.editor_subject,
                      editor_preheader=previous.editor_preheader)
        held = held_over(store, digest, slot, [a.id for a in articles] + store.left_out(previous.id))
        held_note = None if started else (
            f"{held} eligible article{_s(held)} not in this issue, recorded earlier, wait{'' if held > 1 else 's'} "
            "for the next one: --force picks again (or `newsletter draft` to choose)")
    else:
        picked = select_issue(store, digest, slot)
        articles, left_out, held, editor = picked.articles, (), picked.held_over, {}
        held_note = (f"{held} more eligible article{_s(held)} held over for the next issue "
                     f"(max_articles = {digest.max_articles})")
    reason = None
    # A recorded issue with nothing is rebuilt as it is (send_empty made it), but an emptied draft builds nothing.
    if not articles and not digest.send_empty and (previous is None or choice is not None):
        reason = (f"no articles in the draft {choice.path}" if choice is not None else
                  f"no new articles for digest {digest.name!r} published between "
                  f"{slot.start:%Y-%m-%d %H:%M} and {slot.end:%Y-%m-%d %H:%M} {digest.timezone.key}")
    issue = Issue(digest=digest.name, key=slot.key, issue_date=slot.issue_date, articles=tuple(articles),
                  message_id=previous.message_id if previous else None, cutoff=slot.end, **editor)
    return IssuePlan(issue, previous is not None, reason, held, left_out, tuple(notes), held_note if held else None)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def render_outbox_copy(config: Config, digest: Digest, issue: Issue, now: datetime | None = None,
                       rendered: Rendered | None = None):
    """The outbox copy of an issue: (personal fields left empty, its MIME message)."""
    filled = compose.personalize(rendered or compose.render(issue, digest, config), "")
    return filled, compose.build_message(filled, config, digest, message_id=issue.message_id, date=now)


def build_slot(config: Config, store: Store, digest: Digest, slot: IssueSlot, *, force: bool = False,
               now: datetime | None = None) -> BuildResult:
    """Plan the issue, render it, record it (with what the editor left out), and write the outbox files."""
    result = BuildResult(digest=digest.name, key=slot.key, issue_date=slot.issue_date, cutoff=slot.end)
    plan = plan_issue(config, store, digest, slot, force)
    result.held_over, result.notes = plan.held_over, plan.messages
    if plan.skip_reason:
        result.skipped, result.reason = True, plan.skip_reason
        return result
    planned = plan.issue
    rendered = compose.render(planned, digest, config)
    filled, message = render_outbox_copy(config, digest, planned, now, rendered)
    result.check = check_rendered(config, digest, rendered, slot.key, now)
    result.notes += rendered.notes
    issue = store.record_issue(digest.name, slot.key, slot.issue_date, [a.id for a in planned.articles],
                               filled.subject, message["Message-ID"], cutoff=slot.end, intro=planned.intro,
                               editor_subject=planned.editor_subject, editor_preheader=planned.editor_preheader,
                               left_out=plan.left_out)
    result.subject = issue.subject
    result.articles = [a.id for a in issue.articles]
    result.files = outbox.write_issue(config.outbox, digest.name, slot.key, {
        "eml": message.as_bytes(), "html": filled.html.encode("utf-8"), "txt": filled.text.encode("utf-8")})
    return result


@dataclass
class DraftResult:
    digest: str
    key: str
    path: Path
    created: bool  # False: a draft was there already and is left as it is
    articles: int = 0
    held_over: int = 0
    notes: list[str] = field(default_factory=list)
    sync: ImportReport | None = None


def draft(config: Config, digest_name: str | None = None, day: date | None = None, *, sync_first: bool = True,
          now: datetime | None = None) -> DraftResult:
    """`newsletter draft`: write the issue's draft file from what build would carry now, unless one exists."""
    with _day_issue(config, digest_name, day, sync_first, now) as (store, digest, slot, now, synced):
        path = draft_path(config, digest.name, slot.key)
        result = DraftResult(digest.name, slot.key, path, False, sync=synced)
        if path.exists():
            return result
        plan = plan_issue(config, store, digest, slot)
        result.notes = list(plan.notes)
        listed = {a.id for a in plan.issue.articles}
        held: list[Article] = []
        if plan.held_over:
            # The rule's next picks after these: what the editor may swap in.
            wider = replace(digest, max_articles=len(listed) + plan.held_over)
            held = [a for a in select_articles(store, wider, slot) if a.id not in listed]
        issue = plan.issue
        written = write_draft(config, store, digest, slot, list(issue.articles), held, subject=issue.editor_subject,
                              preheader=issue.editor_preheader)
        result.created, result.articles, result.held_over = written is not None, len(issue.articles), plan.held_over
        return result


@dataclass
class IssueCheck:
    """`newsletter check DIGEST`: the findings, what the clip guard did, or why there is nothing to check."""

    digest: str
    key: str
    report: Report | None = None
    notes: list[str] = field(default_factory=list)
    nothing: str | None = None
    sync: ImportReport | None = None


def check_issue(config: Config, digest_name: str | None, day: date | None = None, *, sync_first: bool = True,
                now: datetime | None = None) -> IssueCheck:
    """Render an issue as `build` would (recording nothing) and check the message a subscriber would get."""
    with _day_issue(config, digest_name, day, sync_first, now) as (store, digest, slot, now, synced):
        plan = plan_issue(config, store, digest, slot)
    result = IssueCheck(digest.name, slot.key, sync=synced)
    if plan.skip_reason:
        result.nothing = plan.skip_reason
        return result
    rendered = compose.render(plan.issue, digest, config)
    result.report = check_rendered(config, digest, rendered, slot.key, now)
    result.notes = list(rendered.notes)
    return result
