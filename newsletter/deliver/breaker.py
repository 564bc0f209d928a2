"""The circuit breaker of one send: a server that refuses everything stops the run in bounded time.

A 421 (the server is closing the session) or THRESHOLD messages in a row that met a transient
failure open it: every connection then waits before its next attempt, twice as long each
time, and one success closes it again. (One recipient whose mailbox is full fails all its
retries, but it is one message: it does not open the breaker.) Open for longer than `give_up_after`, it stops the run. Without
it, a server answering 421 or 452 to everything cost each recipient all its retries.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

THRESHOLD = 5  # messages in a row
FIRST_PAUSE, MAX_PAUSE = 1.0, 16.0  # seconds


class Breaker:
    def __init__(self, give_up_after: float, clock: Callable[[], float] = time.monotonic):
        self.give_up_after, self.clock = give_up_after, clock
        self.lock = threading.Lock()
        self.in_a_row = 0
        self.opened: float | None = None  # when it opened; None while closed
        self.pause = 0.0
        self.resume_at = 0.0
        self.last = ""  # the last refusal, for the message that stops the run

    def success(self) -> None:
        with self.lock:
            self.in_a_row, self.opened, self.pause = 0, None, 0.0

    def failure(self, code: int | None, text: str, new_message: bool) -> None:
        """A transient failure; a 421 or too many messages in a row open the breaker, or lengthen its pause."""
        with self.lock:
            self.in_a_row += new_message
            self.last = text
            if self.opened is None and code != 421 and self.in_a_row < THRESHOLD:
                return
            now = self.clock()
            if self.opened is None:
                self.opened, self.pause = now, FIRST_PAUSE
            else:
                self.pause = min(self.pause * 2, MAX_PAUSE)
            self.resume_at = now + self.pause

    def wait(self) -> float | None:
        """Seconds to wait before the next attempt (0 when closed); None once it has been open too long."""
        with self.lock:
            if self.opened is None:
                return 0.0
            now = self.clock()
            if now - self.opened >= self.give_up_after:
                return None
            return max(0.0, min(self.resume_at, self.opened + self.give_up_after) - now)
