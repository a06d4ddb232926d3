"""In-process event bus. Handlers run synchronously and must not block: one that has slow
work to do schedules it (replanning is coalesced, webhooks go through an outbox)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class LocalBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:  # one broken subscriber must not break the publisher
                log.exception("handler of %s failed", type(event).__name__)
