"""Plug & charge (ADR 0009): a charger in that mode starts charging as soon as a car is
plugged in. When one reports a connector `Preparing` (a cable in, no session yet), AmpNexus
sends it a RemoteStartTransaction with the charger's own id tag, which authorises on that
charger alone. The session that follows is recorded and planned like any other, so the
site's limits still apply.

It reacts to ConnectorStatusChanged on the bus, in a task of its own: the charger's
StatusNotification is answered first, and nothing here can hold up or fail that answer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from ampnexus.domain.charging_mode import ChargingMode
from ampnexus.domain.commands import Acceptance
from ampnexus.domain.errors import DomainError
from ampnexus.domain.events import ConnectorStatusChanged
from ampnexus.domain.time import Clock
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.commands import CommandService
from ampnexus.services.modes import ModeService
from ampnexus.services.transactions import TransactionService

log = logging.getLogger(__name__)

PLUGGED_IN = "Preparing"
# At most one remote start per connector in this long: a charger that flaps between
# Preparing and Available, or refuses, is not sent a stream of them.
REMOTE_START_GAP = timedelta(seconds=30)


class PlugAndCharge:
    def __init__(
        self,
        modes: ModeService,
        authorization: AuthorizationService,
        transactions: TransactionService,
        commands: CommandService,
        clock: Clock,
        gap: timedelta = REMOTE_START_GAP,
    ) -> None:
        self._modes = modes
        self._authorization = authorization
        self._transactions = transactions
        self._commands = commands
        self._clock = clock
        self._gap = gap
        self._last_sent: dict[tuple[str, int], datetime] = {}
        self._busy: set[tuple[str, int]] = set()  # a plug-in being handled now
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, bus: Any) -> None:
        bus.subscribe(ConnectorStatusChanged, self._status_changed)

    def _status_changed(self, event: ConnectorStatusChanged) -> None:
        connector = (event.charge_point_id, event.connector_id)
        if event.status != PLUGGED_IN or event.connector_id <= 0 or connector in self._busy:
            return
        self._busy.add(connector)
        task = asyncio.get_running_loop().create_task(self._plugged_in(*connector))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _plugged_in(self, charge_point_id: str, connector_id: int) -> None:
        try:
            await self.plugged_in(charge_point_id, connector_id)
        except DomainError as error:  # gone, disconnected, timed out, tag name taken
            log.warning(
                "plug & charge on %s connector %d: no remote start (%s)",
                charge_point_id,
                connector_id,
                error,
            )
        except Exception:
            log.exception("plug & charge on %s connector %d failed", charge_point_id, connector_id)
        finally:
            self._busy.discard((charge_point_id, connector_id))

    async def plugged_in(self, charge_point_id: str, connector_id: int) -> bool:
        """Start a session on the connector if the charger is in plug & charge, has none
        there, and was not sent a remote start for it lately. True if one was accepted."""
        if (await self._modes.effective(charge_point_id)).mode is not ChargingMode.PLUG_AND_CHARGE:
            return False
        active = await self._transactions.active_on([charge_point_id])
        if any(t.connector_id == connector_id for t in active):
            return False
        now, connector = self._clock.now(), (charge_point_id, connector_id)
        last = self._last_sent.get(connector)
        if last is not None and now - last < self._gap:
            log.debug("plug & charge: %s/%d sent one at %s", *connector, last)
            return False
        self._last_sent[connector] = now
        id_tag = await self._authorization.own_tag(charge_point_id)
        answer = await self._commands.remote_start(charge_point_id, id_tag, connector_id)
        if answer.status is not Acceptance.ACCEPTED:
            log.warning(
                "plug & charge: %s refused the remote start on connector %d (%s)",
                charge_point_id,
                connector_id,
                answer.status,
            )
            return False
        log.info("plug & charge: %s connector %d starts with %s", *connector, id_tag)
        return True

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
