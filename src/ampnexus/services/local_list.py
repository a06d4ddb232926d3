"""Local authorization lists (OCPP 1.6 Local Auth List Management): each charger that has
one holds the operator's id tags, kept in step as they change.

A charger is sent what changed since the list it holds from us (a differential update),
or the whole list (full) when what it holds is not known: never sent, the last send failed,
or the version it reports is not the one we sent. A charger asked at boot or connection
reports its version, and is brought up to date then. Its own keys say whether it has a list
(SupportedFeatureProfiles), how long that can be (LocalAuthListMaxLength; the rest is left
out, with an alert) and how many entries one SendLocalList may carry
(SendLocalListMaxLength; a longer list goes in several sends).

Syncs of one charger run one at a time; changes that arrive meanwhile are sent by one more
sync after it (many tag changes in a row cost a few sends, not one each).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from ampnexus.domain.alert import AlertKey, AlertKind
from ampnexus.domain.charge_point import RegistrationStatus
from ampnexus.domain.commands import Answer, ConfigurationRead
from ampnexus.domain.errors import Conflict, DomainError, NotFound
from ampnexus.domain.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    IdTagAdded,
    IdTagChanged,
)
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.local_list import (
    LIMIT_KEYS,
    ListEntry,
    ListLimits,
    ListState,
    ListUpdate,
    ListVersion,
    LocalList,
    UpdateStatus,
    apply,
    differential,
    differential_updates,
    fit,
    full_updates,
    wanted_entries,
)
from ampnexus.domain.time import Clock
from ampnexus.services.ports import IdTagStore

log = logging.getLogger(__name__)

TAGS_PAGE = 1000
SYNCS_AT_ONCE = 20  # a tag change reaches every connected charger: not all at one moment
LEFT_OUT_SHOWN = 100  # tags named in the alert; the API shows them all


class LocalListCommands(Protocol):
    async def get_configuration(
        self, charge_point_id: str, keys: Sequence[str]
    ) -> ConfigurationRead: ...
    async def send_local_list(
        self, charge_point_id: str, update: ListUpdate
    ) -> Answer[UpdateStatus]: ...
    async def get_local_list_version(self, charge_point_id: str) -> ListVersion: ...


class LocalListStore(Protocol):
    async def get(self, charge_point_id: str) -> LocalList | None: ...
    async def put(self, record: LocalList) -> None:
        """NotFound if the charger is not registered."""
        ...


class Chargers(Protocol):
    async def get(self, charge_point_id: str) -> Any:
        """NotFound if the charger is not registered."""
        ...

    def is_connected(self, charge_point_id: str) -> bool: ...
    async def registration_status(self, charge_point_id: str) -> RegistrationStatus | None: ...


class Alerts(Protocol):
    async def raise_alert(
        self, key: AlertKey, message: str, *, details: dict[str, Any] | None = None
    ) -> None: ...
    async def resolve(self, key: AlertKey) -> bool: ...


@dataclass(frozen=True, slots=True)
class LocalListView:
    """What the API shows: the list as known, its state and why."""

    record: LocalList
    state: ListState
    reason: str | None
    entries: int  # how many tags the charger should hold
    connected: bool


class LocalListService:
    def __init__(
        self,
        store: LocalListStore,
        tags: IdTagStore,
        commands: LocalListCommands,
        chargers: Chargers,
        alerts: Alerts,
        clock: Clock,
    ) -> None:
        self._store = store
        self._tags = tags
        self._commands = commands
        self._chargers = chargers
        self._alerts = alerts
        self._clock = clock
        self._limits: dict[str, ListLimits] = {}  # read since it last connected
        self._connected: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._asked: dict[str, bool] = {}  # syncs asked for, not started: ask its version?
        self._automatic = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._at_once = asyncio.Semaphore(SYNCS_AT_ONCE)

    # --- keeping lists in step ------------------------------------------------------------------
    def attach(self, bus: Any) -> None:
        """Sync automatically: on id tag changes, and when a charger connects or boots."""
        self._automatic = True
        bus.subscribe(IdTagAdded, lambda event: self._tags_changed())
        bus.subscribe(IdTagChanged, lambda event: self._tags_changed())
        bus.subscribe(ChargerConnected, lambda event: self._came(event.charge_point_id))
        bus.subscribe(ChargerBooted, lambda event: self._came(event.charge_point_id))
        bus.subscribe(ChargerDisconnected, lambda event: self._went(event.charge_point_id))

    def _came(self, charge_point_id: str) -> None:
        self._connected.add(charge_point_id)
        self._limits.pop(charge_point_id, None)  # a new firmware may say otherwise
        self._schedule(charge_point_id, check_version=True)

    def _went(self, charge_point_id: str) -> None:
        self._connected.discard(charge_point_id)

    def _tags_changed(self) -> None:
        for charge_point_id in sorted(self._connected):
            self._schedule(charge_point_id)

    def _schedule(self, charge_point_id: str, check_version: bool = False) -> None:
        self._asked[charge_point_id] = self._asked.get(charge_point_id, False) or check_version
        running = self._tasks.get(charge_point_id)
        if running is None or running.done():
            task = asyncio.get_running_loop().create_task(self._run(charge_point_id))
            self._tasks[charge_point_id] = task

    async def _run(self, charge_point_id: str) -> None:
        while (check_version := self._asked.pop(charge_point_id, None)) is not None:
            try:
                async with self._at_once, self._lock(charge_point_id):
                    await self._sync(
                        charge_point_id, full=False, check_version=check_version, forced=False
                    )
            except DomainError as error:  # gone, not connected, no answer: next time
                log.info("%s: local list not synced: %s", charge_point_id, error)
            except Exception:
                log.exception("%s: local list sync failed", charge_point_id)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _lock(self, charge_point_id: str) -> asyncio.Lock:
        return self._locks.setdefault(charge_point_id, asyncio.Lock())

    # --- what operators ask ---------------------------------------------------------------------
    async def view(self, charge_point_id: str) -> LocalListView:
        await self._chargers.get(charge_point_id)  # NotFound for an unknown charger
        record = await self._store.get(charge_point_id) or LocalList(charge_point_id)
        wanted, _ = fit(await self._wanted(charge_point_id), record.max_length, self._now())
        connected = self._chargers.is_connected(charge_point_id)
        state, reason = self._state(record, wanted, connected)
        return LocalListView(record, state, reason, len(wanted), connected)

    async def sync(self, charge_point_id: str, full: bool = True) -> LocalListView:
        """Send the list now (the whole list unless `full` is False), whatever the charger's
        keys say; raises what the commands raise (the failure is kept for the view)."""
        await self._chargers.get(charge_point_id)
        async with self._lock(charge_point_id):
            await self._sync(charge_point_id, full=full, check_version=False, forced=True)
        return await self.view(charge_point_id)

    async def ask_version(self, charge_point_id: str) -> ListVersion:
        """GetLocalListVersion; a version other than ours makes the next update a full one."""
        await self._chargers.get(charge_point_id)
        async with self._lock(charge_point_id):
            answer = await self._commands.get_local_list_version(charge_point_id)
            record = self._reported(await self._record(charge_point_id), answer.version)
            await self._put(record)
        if self._automatic and record.held is None and answer.version >= 0:
            self._schedule(charge_point_id)  # behind: brought up to date
        return answer

    # --- a sync ---------------------------------------------------------------------------------
    async def _sync(
        self, charge_point_id: str, *, full: bool, check_version: bool, forced: bool
    ) -> None:
        """`check_version`: it (re)connected; one that said NotSupported is tried again.
        Only an Accepted charger is sent the id tags: not one an operator has not let in."""
        registration = await self._chargers.registration_status(charge_point_id)
        if registration is not RegistrationStatus.ACCEPTED:
            if forced:
                raise Conflict(
                    f"charge point {charge_point_id!r} is {registration}, not Accepted: "
                    "it is not sent the id tags"
                )
            return
        record = await self._record(charge_point_id)
        try:
            limits = await self._read_limits(charge_point_id)
            if not forced and (
                limits.supported is False or (record.unsupported and not check_version)
            ):
                if not record.unsupported:
                    await self._put(_unsupported(record, _NO_PROFILE))
                return
            if check_version:
                answer = await self._commands.get_local_list_version(charge_point_id)
                record = self._reported(record, answer.version)
                if answer.version < 0 and not forced:  # -1: it has no local list
                    await self._put(_unsupported(record, _NO_LIST))
                    return
            wanted, left_out = fit(
                await self._wanted(charge_point_id), limits.max_length, self._now()
            )
            record = replace(record, max_length=limits.max_length, left_out=tuple(left_out))
            record = await self._send(record, wanted, limits, full or record.held is None)
        except DomainError as error:
            await self._put(replace(record, problem=f"not synced: {error}"))
            raise
        await self._put(record)
        if record.problem is None:
            await self._alert_left_out(record, limits)

    async def _send(
        self, record: LocalList, wanted: list[ListEntry], limits: ListLimits, full: bool
    ) -> LocalList:
        """The updates that bring the charger to `wanted`, sent in turn until one is refused;
        a differential one that Failed or mismatched its version is followed by the whole
        list, once (OCPP 1.6 §5.15)."""
        base = max(record.version, record.reported_version or 0)
        if full:
            updates = full_updates(wanted, base, limits.send_max)
        else:
            updates = differential_updates(
                differential(record.held or (), wanted), base, limits.send_max
            )
        for update in updates:
            answer = await self._commands.send_local_list(record.charge_point_id, update)
            record = replace(record, last_status=answer.status, updated_at=self._now())
            if answer.status is UpdateStatus.ACCEPTED:
                held = apply(record.held or (), update)
                record = replace(record, version=update.version, held=held, problem=None)
                record = replace(record, unsupported=False)
                await self._put(record)  # a later send may fail: what was taken is kept
                continue
            if answer.status in _RETRIED_IN_FULL and not full:
                log.info("%s: version %d refused: sending the whole list", *_who(record, update))
                return await self._send(replace(record, held=None), wanted, limits, True)
            return _refused(record, update, answer.status)
        return replace(record, problem=None, unsupported=False)

    def _reported(self, record: LocalList, version: int) -> LocalList:
        """The charger's own version; one not ours means its list is not what we sent."""
        record = replace(record, reported_version=version, reported_at=self._now())
        if version != record.version and record.held is not None:
            record = replace(record, held=None)
        return record

    async def _alert_left_out(self, record: LocalList, limits: ListLimits) -> None:
        key = AlertKey(AlertKind.LOCAL_LIST_TRUNCATED, record.charge_point_id)
        if not record.left_out:
            await self._alerts.resolve(key)
            return
        shown = ", ".join(record.left_out[:LEFT_OUT_SHOWN])
        more = len(record.left_out) - LEFT_OUT_SHOWN
        shown += f" and {more} more" if more > 0 else ""
        await self._alerts.raise_alert(
            key,
            f"{record.charge_point_id} holds at most {limits.max_length} id tags in its local "
            f"list: {len(record.left_out)} left out ({shown})",
            details={"max_length": limits.max_length, "left_out": list(record.left_out)},
        )

    # --- reads ----------------------------------------------------------------------------------
    async def _read_limits(self, charge_point_id: str) -> ListLimits:
        limits = self._limits.get(charge_point_id)
        if limits is None:
            read = await self._commands.get_configuration(charge_point_id, LIMIT_KEYS)
            limits = self._limits[charge_point_id] = ListLimits.of(read.values)
        return limits

    async def _wanted(self, charge_point_id: str) -> list[ListEntry]:
        tags: list[IdTag] = []
        while True:
            page = await self._tags.list(TAGS_PAGE, len(tags))
            tags.extend(page.items)
            if not page.items or len(tags) >= page.total:
                return wanted_entries(tags, charge_point_id)

    async def _record(self, charge_point_id: str) -> LocalList:
        return await self._store.get(charge_point_id) or LocalList(charge_point_id)

    async def _put(self, record: LocalList) -> None:
        try:
            await self._store.put(replace(record, updated_at=self._now()))
        except NotFound:
            log.info("%s: deleted, its local list is not kept", record.charge_point_id)

    def _state(
        self, record: LocalList, wanted: list[ListEntry], connected: bool
    ) -> tuple[ListState, str | None]:
        if record.unsupported:
            return ListState.UNSUPPORTED, record.problem or _NO_PROFILE
        if record.problem is not None:
            return ListState.FAILED, record.problem
        offline = "" if connected else " (the charger is offline)"
        if record.held is None:
            return ListState.PENDING, f"the whole list is to be sent{offline}"
        changes = differential(record.held, wanted)
        if changes:
            return ListState.PENDING, f"{len(changes)} change(s) not sent yet{offline}"
        task = self._tasks.get(record.charge_point_id)
        if task is not None and not task.done():
            return ListState.PENDING, "being synced"
        return ListState.IN_SYNC, None

    def _now(self) -> datetime:
        return self._clock.now()


_NO_PROFILE = "the charger does not list LocalAuthListManagement in SupportedFeatureProfiles"
_NO_LIST = "the charger reports list version -1: it has no local list"
_RETRIED_IN_FULL = (UpdateStatus.FAILED, UpdateStatus.VERSION_MISMATCH)


def _unsupported(record: LocalList, why: str) -> LocalList:
    if record.unsupported:
        return record
    return replace(record, unsupported=True, problem=why, held=None)


def _who(record: LocalList, update: ListUpdate) -> tuple[str, int]:
    return record.charge_point_id, update.version


def _refused(record: LocalList, update: ListUpdate, status: UpdateStatus) -> LocalList:
    """Failed (or a mismatch on a full list): its list is not known, the next send is the
    whole list. NotSupported: it has no list; not sent again until it boots or is forced."""
    what = f"{update.kind.value} update to version {update.version}"
    if status is UpdateStatus.NOT_SUPPORTED:
        problem = f"the charger answered NotSupported to the {what}"
        return replace(record, held=None, unsupported=True, problem=problem)
    problem = f"the charger answered {status.value} to the {what}"
    return replace(record, held=None, problem=problem)
