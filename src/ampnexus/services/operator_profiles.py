"""The charging profiles operators gave chargers, remembered as the chargers keep them, and
the upper bound they set on each session: smart charging plans under it and never replaces
it (issue 17).

- A profile is recorded when the charger accepted it (SetChargingProfile through the API),
  replacing those the charger replaces (§5.16.3); a ClearChargingProfile the charger answered
  removes what it cleared.
- A remote start's TxProfile is bound to the transaction that start began, as the charger
  binds it (§5.11): services/remote_starts.py matches the start and TransactionStarted
  carries the profile.
- A TxProfile goes when its transaction stops (§7.10). A reboot ends a charger's transactions
  and so their TxProfiles; its ChargePointMax and TxDefault profiles are kept: chargers keep
  them across a reboot (so does the simulator), and for an upper bound, keeping one the
  charger may have lost errs on the safe side.
- Every change is published as OperatorLimitChanged, for smart charging to replan.

`operator_bound` is the bound itself, a pure function; `OperatorProfiles.bound` answers it
from a per-charger cache that `load` fills with one read of the store per site replan.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from ampnexus.charging.compiler import ChargerCapabilities, Steps
from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ProfilePurpose,
    limit_changes,
)
from ampnexus.domain.commands import ProfileFilter
from ampnexus.domain.events import (
    ChargerBooted,
    OperatorLimitChanged,
    TransactionStarted,
    TransactionStopped,
)
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.time import Clock
from ampnexus.services.ports import EventPublisher, OperatorProfileStore

log = logging.getLogger(__name__)


class NotLoaded(LookupError):
    """`bound` was asked about a charger `load` did not read (or one changed since)."""


class OperatorProfiles:
    def __init__(
        self, store: OperatorProfileStore, clock: Clock, events: EventPublisher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events
        self._cache: dict[str, tuple[OperatorProfile, ...]] = {}  # charger -> its profiles
        self._lock = asyncio.Lock()  # a load never caches what a write is changing
        self._tasks: set[asyncio.Task[None]] = set()

    # --- what operators did ---------------------------------------------------------------------
    async def accepted(
        self,
        charge_point_id: str,
        connector_id: int,
        profile: ChargingProfile,
        set_by: str | None = None,
    ) -> None:
        """The charger accepted a SetChargingProfile (a TxProfile carries its transaction)."""
        record = OperatorProfile(charge_point_id, connector_id, profile, self._clock.now(), set_by)
        await self._change(charge_point_id, lambda: self._store.put(record), always=True)

    async def cleared(self, charge_point_id: str, which: ProfileFilter) -> None:
        """The charger answered a ClearChargingProfile: what it matched is gone (and when it
        answered Unknown it held none of them, so none is held either)."""
        await self._change(charge_point_id, lambda: self._store.clear(charge_point_id, which))

    # --- what chargers did ----------------------------------------------------------------------
    def attach(self, bus: Any) -> None:
        bus.subscribe(TransactionStarted, lambda e: self._spawn(self.transaction_started(e)))
        bus.subscribe(TransactionStopped, lambda e: self._spawn(self.transaction_stopped(e)))
        bus.subscribe(ChargerBooted, lambda e: self._spawn(self.booted(e.charge_point_id)))

    async def transaction_started(self, event: TransactionStarted) -> None:
        """A session a remote start began holds that start's TxProfile (services/remote_starts.py
        matched them)."""
        if event.remote_profile is None:
            return
        profile = replace(event.remote_profile, transaction_id=event.transaction_id)
        record = OperatorProfile(
            event.charge_point_id, event.connector_id, profile, event.at, event.remote_set_by
        )
        await self._change(event.charge_point_id, lambda: self._store.put(record), always=True)

    async def transaction_stopped(self, event: TransactionStopped) -> None:
        charger, transaction_id = event.charge_point_id, event.transaction_id
        await self._change(charger, lambda: self._store.drop_transaction(charger, transaction_id))

    async def booted(self, charge_point_id: str) -> None:
        await self._change(charge_point_id, lambda: self._store.drop_tx_profiles(charge_point_id))

    # --- reading --------------------------------------------------------------------------------
    async def of_charger(self, charge_point_id: str) -> list[OperatorProfile]:
        """The profiles the charger holds from operators, by connector, purpose, stack level."""
        return (await self._store.for_chargers([charge_point_id])).get(charge_point_id, [])

    async def load(self, charge_point_ids: Iterable[str]) -> None:
        """Read the chargers' profiles that are not cached, in one read: call it once per
        site replan, then `bound` per session."""
        async with self._lock:
            missing = [cp for cp in dict.fromkeys(charge_point_ids) if cp not in self._cache]
            if not missing:
                return
            found = await self._store.for_chargers(missing)
            for charge_point_id in missing:
                self._cache[charge_point_id] = tuple(found.get(charge_point_id, ()))

    def bound(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        transaction_started_at: datetime | None,
        capabilities: ChargerCapabilities,
        since: datetime,
        until: datetime,
    ) -> Steps | None:
        """`operator_bound` of the charger's cached profiles. NotLoaded unless `load` read
        the charger since it last changed."""
        held = self.held(charge_point_id)
        if not held:
            return None  # most chargers: nothing to compute
        return operator_bound(
            held,
            connector_id,
            transaction_id,
            transaction_started_at,
            capabilities,
            since,
            until,
        )

    def held(self, charge_point_id: str) -> tuple[OperatorProfile, ...]:
        """The charger's cached profiles (their stack levels place smart charging's above
        them). NotLoaded unless `load` read the charger since it last changed."""
        held = self._cache.get(charge_point_id)
        if held is None:
            raise NotLoaded(f"operator profiles of {charge_point_id!r} are not loaded")
        return held

    async def drain(self) -> None:
        """Let the changes events started land (before the database closes)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- inside ---------------------------------------------------------------------------------
    async def _change(
        self, charge_point_id: str, write: Callable[[], Awaitable[int]], *, always: bool = False
    ) -> None:
        async with self._lock:
            changed = await write()
            self._cache.pop(charge_point_id, None)
        if (changed or always) and self._events is not None:
            self._events.publish(OperatorLimitChanged(charge_point_id, self._clock.now()))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("operator profiles not updated", exc_info=task.exception())


def operator_bound(
    profiles: Iterable[OperatorProfile],
    connector_id: int,
    transaction_id: int | None,
    transaction_started_at: datetime | None,
    capabilities: ChargerCapabilities,
    since: datetime,
    until: datetime,
) -> Steps | None:
    """The most the operator's profiles let the connector draw over [since, until), in W,
    for the transaction: the ChargePointMaxProfile's limit and the Tx-or-TxDefault one's,
    whichever is lower (§3.13.3). Relative schedules count from the transaction's start,
    Recurring ones repeat over the window; periods without numberPhases convert with the
    charger's phases. Steps start at `since`; infinite where nothing limits. None when no
    operator profile limits the connector anywhere in the window.

    Connector 0: the ChargePointMaxProfile alone, the cap on the whole charger's draw (for
    a connector, it is a cap shared with the charger's other connectors).
    """
    held = [(p.connector_id, p.profile) for p in profiles if _bears_on(p, transaction_id)]
    if not held:
        return None
    changes = limit_changes(
        held,
        connector_id,
        since,
        until,
        ChargingRateUnit.W,
        transaction_start=transaction_started_at,
        voltage=capabilities.voltage,
        phases=capabilities.phases,
        transaction_id=transaction_id,
    )
    steps = tuple((moment, math.inf if limit is None else limit) for moment, limit in changes)
    return None if all(math.isinf(limit) for _, limit in steps) else steps


def _bears_on(record: OperatorProfile, transaction_id: int | None) -> bool:
    """A TxProfile only for its own transaction (one without a transaction has none)."""
    if record.purpose is not ProfilePurpose.TX:
        return True
    return transaction_id is not None and record.transaction_id == transaction_id
