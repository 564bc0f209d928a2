"""`newsletter sources`: each configured source with what its last syncs found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from newsletter import sources
from newsletter.config import Config, Source
from newsletter.model import SourceState
from newsletter.pipeline.common import open_store
from newsletter.pipeline.ingest import ImportReport, Progress, sync


@dataclass(frozen=True)
class SourceStatus:
    """One configured source and its state; `problems` are the inputs below a folder that failed."""

    source: Source
    state: SourceState
    next_look: datetime | None
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.source.url:
            return "feed"
        return "folder" if self.source.path.is_dir() else "file"


def source_status(config: Config, *, sync_first: bool = True,
                  progress: Progress | None = None) -> tuple[list[SourceStatus], ImportReport | None]:
    """Every configured source with its state, after an incremental sync."""
    with open_store(config) as store:
        report = sync(config, store, progress) if sync_first else None
        states = store.sync_state.sources()
        files = store.sync_state.files()
    rows = []
    for source in config.sources:
        state = states.get(source.label) or SourceState(source.label)
        problems = []
        if source.path is not None:
            inside = sources.file_key(source.path)
            problems = [(key, f.error) for key, f in sorted(files.items())
                        if f.error and (key.startswith(inside) or key == source.label)]
        rows.append(SourceStatus(source, state, sources.next_look(source, state), problems))
    return rows, report
