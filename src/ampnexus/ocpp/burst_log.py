"""Warnings that come in bursts: the first one of each kind is logged at once, the rest are
counted and summed up in one line at most once per window.

A charger that repeats a bad frame twenty times a second, or a guesser cycling through
addresses, would otherwise write millions of lines a day and bury the one line an operator
needs. Keys (a charger id, an address) are bounded in number: a stranger rotating them
cannot grow the table.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

DEFAULT_WINDOW = 60.0
DEFAULT_CAPACITY = 4096


class _Burst:
    __slots__ = ("logged_at", "suppressed")

    def __init__(self, logged_at: float) -> None:
        self.logged_at = logged_at
        self.suppressed = 0


class BurstLog:
    def __init__(
        self,
        logger: logging.Logger,
        window: float = DEFAULT_WINDOW,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._window = window
        self._capacity = capacity
        self._clock = clock
        self._bursts: OrderedDict[Hashable, _Burst] = OrderedDict()

    def warning(self, key: Hashable, message: str, *args: object) -> None:
        """Log `message % args` now if `key` logged nothing within the window; else count it,
        and the first occurrence after the window says how many were not logged."""
        now = self._clock()
        burst = self._bursts.get(key)
        if burst is not None and now - burst.logged_at < self._window:
            burst.suppressed += 1
            self._bursts.move_to_end(key)  # a burst going on is the last to be forgotten
            return
        if burst is not None and burst.suppressed:
            elapsed = now - burst.logged_at
            message += f" (and {burst.suppressed} more like it in the last {elapsed:.0f} s)"
        self._logger.warning(message, *args)
        self._bursts[key] = _Burst(now)
        self._bursts.move_to_end(key)
        if len(self._bursts) > self._capacity:
            self._bursts.popitem(last=False)

    def tracked(self) -> int:
        return len(self._bursts)
