"""Group commit for one-click unsubscribes: one write in flight at a time; the POSTs that arrive meanwhile
are committed together next, each answered once its own commit is durable."""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence

from starlette.concurrency import run_in_threadpool


class Batcher:
    def __init__(self, flush: Callable[[Sequence], None]):
        self.flush = flush
        self.pending: list[tuple[object, asyncio.Future]] = []
        self.draining = False

    async def add(self, item) -> None:
        """Return once `item` is committed; raise what the commit raised."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if not self.draining:
            self.draining = True
            asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    await run_in_threadpool(self.flush, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - handed to each waiting request, which answers 503
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self.draining = False
