"""An EventPublisher that keeps what was published, in order."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E")


class RecordedEvents:
    def __init__(self) -> None:
        self.published: list[object] = []

    def publish(self, event: object) -> None:
        self.published.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.published if isinstance(event, kind)]

    def clear(self) -> None:
        self.published.clear()
