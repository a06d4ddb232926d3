"""Sites, their circuits and where chargers are placed, in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.site import Circuit, Placement, Site, SiteLayout
from ampnexus.services.ports import LayoutEdit, Page
from ampnexus.store.database import Database
from ampnexus.store.tables import charge_points, circuits, sites

PLACEMENT_COLUMNS = ("site_id", "circuit_id", "phases", "max_power_w", "phase_rotation")
UNPLACED = dict.fromkeys(PLACEMENT_COLUMNS)


class SqlSiteStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, site_id: str) -> Site | None:
        def work(conn: Connection) -> Site | None:
            row = conn.execute(select(sites).where(sites.c.id == site_id)).first()
            return _site(row) if row else None

        return await self._db.read(work)

    async def list(self, limit: int, offset: int) -> Page[Site]:
        def work(conn: Connection) -> Page[Site]:
            total = conn.scalar(select(func.count()).select_from(sites)) or 0
            rows = conn.execute(select(sites).order_by(sites.c.id).limit(limit).offset(offset))
            return Page([_site(row) for row in rows], total)

        return await self._db.read(work)

    async def add(self, site: Site) -> None:
        values = {**_site_values(site), "id": site.id, "created_at": site.created_at}
        try:
            await self._db.write(lambda conn: conn.execute(insert(sites).values(values)))
        except IntegrityError as error:
            raise Conflict(f"site {site.id!r} already exists") from error

    async def replace(self, site: Site) -> None:
        values = _site_values(site)
        await self._db.write(
            lambda conn: conn.execute(update(sites).where(sites.c.id == site.id).values(values))
        )

    async def delete(self, site_id: str) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(
                update(charge_points).where(charge_points.c.site_id == site_id).values(UNPLACED)
            )
            # Leaves first: circuits reference their parents.
            for circuit in reversed(_in_tree_order(_circuits(conn, site_id))):
                conn.execute(
                    delete(circuits).where(
                        circuits.c.site_id == site_id, circuits.c.id == circuit.id
                    )
                )
            return conn.execute(delete(sites).where(sites.c.id == site_id)).rowcount > 0

        return await self._db.write(work)

    async def layout(self, site_id: str) -> SiteLayout | None:
        return await self._db.read(lambda conn: _layout(conn, site_id))

    async def edit_layout(self, site_id: str, edit: LayoutEdit) -> SiteLayout:
        def work(conn: Connection) -> SiteLayout:
            before = _layout(conn, site_id)
            if before is None:
                raise NotFound(f"site {site_id!r} does not exist")
            after = edit(before)
            _store_circuits(conn, before.circuits, after.circuits)
            for placement in set(after.placements) - set(before.placements):
                _store_placement(conn, placement)
            return after

        return await self._db.write(work)

    async def placement(self, charge_point_id: str) -> Placement | None:
        def work(conn: Connection) -> Placement | None:
            row = conn.execute(
                select(charge_points.c.id, *_placement_columns()).where(
                    charge_points.c.id == charge_point_id
                )
            ).first()
            return _placement(row) if row else None

        return await self._db.read(work)

    async def set_placement(self, placement: Placement) -> None:
        await self._db.write(lambda conn: _store_placement(conn, placement))


def _layout(conn: Connection, site_id: str) -> SiteLayout | None:
    row = conn.execute(select(sites).where(sites.c.id == site_id)).first()
    if row is None:
        return None
    placed = conn.execute(
        select(charge_points.c.id, *_placement_columns())
        .where(charge_points.c.site_id == site_id)
        .order_by(charge_points.c.id)
    )
    return SiteLayout(
        _site(row), tuple(_circuits(conn, site_id)), tuple(_placement(p) for p in placed)
    )


def _circuits(conn: Connection, site_id: str) -> list[Circuit]:
    rows = conn.execute(
        select(circuits).where(circuits.c.site_id == site_id).order_by(circuits.c.id)
    )
    return [
        Circuit(
            site_id=row.site_id,
            id=row.id,
            parent_id=row.parent_id,
            name=row.name,
            max_power_w=row.max_power_w,
            max_current_a=row.max_current_a,
        )
        for row in rows
    ]


def _store_circuits(
    conn: Connection, before: tuple[Circuit, ...], after: tuple[Circuit, ...]
) -> None:
    """Write the difference: new circuits parents first, removed ones leaves first."""
    old = {circuit.id: circuit for circuit in before}
    new = {circuit.id: circuit for circuit in after}
    for circuit in _in_tree_order(after):
        values = {
            "parent_id": circuit.parent_id,
            "name": circuit.name,
            "max_power_w": circuit.max_power_w,
            "max_current_a": circuit.max_current_a,
        }
        if circuit.id not in old:
            conn.execute(insert(circuits).values(site_id=circuit.site_id, id=circuit.id, **values))
        elif old[circuit.id] != circuit:
            conn.execute(
                update(circuits)
                .where(circuits.c.site_id == circuit.site_id, circuits.c.id == circuit.id)
                .values(values)
            )
    for circuit in reversed(_in_tree_order(before)):
        if circuit.id not in new:
            conn.execute(
                delete(circuits).where(
                    circuits.c.site_id == circuit.site_id, circuits.c.id == circuit.id
                )
            )


def _in_tree_order(tree: tuple[Circuit, ...] | list[Circuit]) -> list[Circuit]:
    """Parents before their children (the tree is valid: no cycles)."""
    parents = {circuit.id: circuit.parent_id for circuit in tree}

    def depth(circuit_id: str | None) -> int:
        return 0 if circuit_id is None else 1 + depth(parents.get(circuit_id))

    return sorted(tree, key=lambda circuit: depth(circuit.parent_id))


def _store_placement(conn: Connection, placement: Placement) -> None:
    values = {name: getattr(placement, name) for name in PLACEMENT_COLUMNS}
    result = conn.execute(
        update(charge_points).where(charge_points.c.id == placement.charge_point_id).values(values)
    )
    if result.rowcount == 0:
        raise NotFound(f"charge point {placement.charge_point_id!r} is not registered")


def _placement_columns() -> list[Any]:
    return [charge_points.c[name] for name in PLACEMENT_COLUMNS]


def _placement(row: Row[Any]) -> Placement:
    return Placement(row.id, **{name: getattr(row, name) for name in PLACEMENT_COLUMNS})


def _site_values(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "time_zone": site.time_zone,
        "grid_limit_w": site.grid_limit_w,
        "grid_limit_a": site.grid_limit_a,
        "phases": site.phases,
        "voltage": site.voltage,
        "safety_margin": site.safety_margin,
        "default_energy_wh": site.default_energy_wh,
        "default_departure": site.default_departure,
        "default_mode": None if site.default_mode is None else site.default_mode.value,
    }


def _site(row: Row[Any]) -> Site:
    return Site(
        id=row.id,
        name=row.name,
        time_zone=row.time_zone,
        grid_limit_w=row.grid_limit_w,
        grid_limit_a=row.grid_limit_a,
        phases=row.phases,
        voltage=row.voltage,
        safety_margin=row.safety_margin,
        default_energy_wh=row.default_energy_wh,
        default_departure=row.default_departure,
        default_mode=row.default_mode,
        created_at=row.created_at,
    )
