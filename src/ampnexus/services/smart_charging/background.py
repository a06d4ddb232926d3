"""What smart charging runs beside its replans: its tasks (all cancelled on stop) and the
alerts it raises without waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from ampnexus.domain.alert import AlertKey, AlertKind
from ampnexus.domain.transaction import Transaction
from ampnexus.services.alerts import AlertService
from ampnexus.services.smart_charging.model import log


class Background:
    def __init__(self, alerts: AlertService) -> None:
        self.alerts = alerts
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        return self.track(asyncio.get_running_loop().create_task(_logged(coroutine)))

    def track(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Kept until done, for `stop` to cancel."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def flag(self, key: AlertKey, message: str, details: dict[str, Any]) -> None:
        """Raised in the background: neither a reading nor a replan waits for the database."""
        self.spawn(self.alerts.raise_alert(key, message, details=details))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class SessionFlags:
    """Implausible sessions, alerted once per transaction and check: replans see the same
    session again and again."""

    def __init__(self, background: Background) -> None:
        self._background = background
        self._flagged: set[tuple[int, str]] = set()  # (transaction, check) already alerted

    def flag(self, transaction: Transaction, site_id: str, check: str, problem: str) -> None:
        if (transaction.id, check) in self._flagged:
            return
        self._flagged.add((transaction.id, check))
        charger = transaction.charge_point_id
        self._background.flag(
            AlertKey(AlertKind.IMPLAUSIBLE_SESSION, charger, site_id),
            f"transaction {transaction.id} on {charger}: {problem}",
            {"transaction_id": transaction.id, "check": check},
        )


async def _logged(coroutine: Any) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("smart charging task failed")


@contextlib.contextmanager
def logged_failure(what: str) -> Iterator[None]:
    """A failing alert store must not turn a replan's outcome into an error."""
    try:
        yield
    except Exception:
        log.exception(what)
