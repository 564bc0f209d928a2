"""The pipeline: sources -> store -> select -> compose -> deliver, wired in that order.

Only the modules of this package import several stages. The CLI, the scheduler and the
preview server call the functions here and nothing below them.
"""

from newsletter.pipeline.archive import (ArchiveReport, archive_digest_html, archive_feed_xml, archive_index_html,
                                         archive_issue_html, write_archive)
from newsletter.pipeline.build import BuildResult, DraftResult, IssueCheck, build, build_slot, check_issue, draft
from newsletter.pipeline.checking import check_path
from newsletter.pipeline.common import leader_lock, open_store, state_path
from newsletter.pipeline.ingest import (ImportReport, import_inputs, import_into_store, list_articles, list_topics,
                                        sync, sync_store)
from newsletter.pipeline.status import SourceStatus, source_status
from newsletter.pipeline.web import Reader, Web

__all__ = ["ArchiveReport", "BuildResult", "DraftResult", "ImportReport", "IssueCheck", "Reader", "SourceStatus", "Web",
           "archive_digest_html", "archive_feed_xml", "archive_index_html", "archive_issue_html", "build", "build_slot",
           "check_issue", "check_path", "draft", "import_inputs", "import_into_store", "leader_lock", "list_articles",
           "list_topics", "open_store", "source_status", "state_path", "sync", "sync_store", "write_archive"]
