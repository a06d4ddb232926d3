"""Handlers declared with `@router.on("Action")`, one table per OCPP version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ampnexus.app import Services


@dataclass(slots=True)
class Context:
    """What a handler knows about the message in hand."""

    charge_point_id: str
    services: Services
    session: Any  # the connection's mutable state, see gateway.Session
    _after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def after(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` once the answer is sent. Calling the charger from inside the
        handler of its own message would wait on an answer it cannot send yet."""
        self._after.append(action)


Handler = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


class Router:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def on(self, action: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if action in self.handlers:
                raise ValueError(f"two handlers for {action}")
            self.handlers[action] = handler
            return handler

        return register
