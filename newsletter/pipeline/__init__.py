"""The pipeline: sources -> store -> select -> compose -> deliver, wired in that order.

Only the modules of this package import several stages. The CLI, the scheduler and the
preview server call the functions here and nothing below them.
"""

from newsletter.pipeline.build import BuildResult, DraftResult, build, build_slot, draft
from newsletter.pipeline.common import open_store
from newsletter.pipeline.ingest import (ImportReport, import_inputs, import_into_store, list_articles, list_topics,
                                        sync, sync_store)

__all__ = ["BuildResult", "DraftResult", "ImportReport", "build", "build_slot", "draft", "import_inputs",
           "import_into_store", "list_articles", "list_topics", "open_store", "sync", "sync_store"]
