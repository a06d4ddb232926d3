"""Driver profiles and the id tags bound to them, in SQL. A binding names the tag as the tag
spells itself; a lookup finds it by any spelling (id tags are case-insensitive)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from ampnexus.domain.driver import DriverProfile, PriorityClass
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.id_tags import same_id_tag
from ampnexus.store.tables import driver_id_tags, driver_profiles, id_tags


class SqlDriverProfileStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, profile: DriverProfile) -> DriverProfile:
        def work(conn: Connection) -> DriverProfile:
            profile_id = conn.execute(
                insert(driver_profiles)
                .values(**_values(profile), created_at=profile.created_at)
                .returning(driver_profiles.c.id)
            ).scalar_one()
            _bind(conn, profile_id, profile.id_tags)
            return _get(conn, profile_id)

        return await self._db.write(work)

    async def get(self, profile_id: int) -> DriverProfile | None:
        def work(conn: Connection) -> DriverProfile | None:
            return _get(conn, profile_id) if _exists(conn, profile_id) else None

        return await self._db.read(work)

    async def list(self, limit: int, offset: int) -> Page[DriverProfile]:
        def work(conn: Connection) -> Page[DriverProfile]:
            total = conn.scalar(select(func.count()).select_from(driver_profiles)) or 0
            rows = conn.execute(
                select(driver_profiles).order_by(driver_profiles.c.id).limit(limit).offset(offset)
            ).all()
            tags = _tags(conn, [row.id for row in rows])
            return Page([_profile(row, tags[row.id]) for row in rows], total)

        return await self._db.read(work)

    async def replace(self, profile: DriverProfile) -> None:
        assert profile.id is not None
        profile_id = profile.id

        def work(conn: Connection) -> None:
            conn.execute(
                update(driver_profiles)
                .where(driver_profiles.c.id == profile_id)
                .values(_values(profile))
            )
            kept = _bind(conn, profile_id, profile.id_tags)
            conn.execute(
                delete(driver_id_tags).where(
                    driver_id_tags.c.driver_profile_id == profile_id,
                    driver_id_tags.c.id_tag.not_in(kept),
                )
            )

        await self._db.write(work)

    async def delete(self, profile_id: int) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(
                delete(driver_id_tags).where(driver_id_tags.c.driver_profile_id == profile_id)
            )
            result = conn.execute(delete(driver_profiles).where(driver_profiles.c.id == profile_id))
            return result.rowcount > 0

        return await self._db.write(work)

    async def bind(self, profile_id: int, id_tag: str) -> None:
        def work(conn: Connection) -> None:
            if not _exists(conn, profile_id):
                raise NotFound(f"driver profile {profile_id} does not exist")
            _bind(conn, profile_id, [id_tag])

        await self._db.write(work)

    async def unbind(self, profile_id: int, id_tag: str) -> bool:
        def work(conn: Connection) -> bool:
            tag = _spelling(conn, id_tag)
            result = conn.execute(
                delete(driver_id_tags).where(
                    driver_id_tags.c.driver_profile_id == profile_id,
                    driver_id_tags.c.id_tag == tag,
                )
            )
            return tag is not None and result.rowcount > 0

        return await self._db.write(work)

    async def by_id_tag(self, id_tag: str) -> DriverProfile | None:
        def work(conn: Connection) -> DriverProfile | None:
            profile_id = conn.scalar(
                select(driver_id_tags.c.driver_profile_id)
                .join(id_tags, id_tags.c.id_tag == driver_id_tags.c.id_tag)
                .where(same_id_tag(id_tag))
            )
            return None if profile_id is None else _get(conn, profile_id)

        return await self._db.read(work)

    async def by_id_tags(self, id_tags: Sequence[str]) -> dict[str, DriverProfile]:
        lower = sorted({tag.lower() for tag in id_tags})

        def work(conn: Connection) -> dict[str, DriverProfile]:
            bound = conn.execute(
                select(driver_id_tags.c.id_tag, driver_id_tags.c.driver_profile_id).where(
                    func.lower(driver_id_tags.c.id_tag).in_(lower)
                )
            ).all()
            ids = sorted({row.driver_profile_id for row in bound})
            rows = conn.execute(select(driver_profiles).where(driver_profiles.c.id.in_(ids)))
            tags = _tags(conn, ids)
            profiles = {row.id: _profile(row, tags[row.id]) for row in rows}
            return {row.id_tag.lower(): profiles[row.driver_profile_id] for row in bound}

        return await self._db.read(work) if lower else {}


def _bind(conn: Connection, profile_id: int, spellings: Iterable[str]) -> list[str]:
    """Bind each tag to the profile: it must exist and belong to no other profile.
    Returns the tags as they spell themselves."""
    bound = []
    for spelling in spellings:
        tag = _spelling(conn, spelling)
        if tag is None:
            raise Invalid(f"id tag {spelling!r} does not exist: create it first (POST /id-tags)")
        owner = conn.scalar(
            select(driver_id_tags.c.driver_profile_id).where(driver_id_tags.c.id_tag == tag)
        )
        if owner is None:
            conn.execute(insert(driver_id_tags).values(id_tag=tag, driver_profile_id=profile_id))
        elif owner != profile_id:
            raise Conflict(f"id tag {tag!r} is already bound to driver profile {owner}")
        bound.append(tag)
    return bound


def _spelling(conn: Connection, id_tag: str) -> str | None:
    """The stored spelling of the id tag `id_tag` names in any case; None if there is none."""
    return conn.scalar(select(id_tags.c.id_tag).where(same_id_tag(id_tag)))


def _exists(conn: Connection, profile_id: int) -> bool:
    found = conn.scalar(select(driver_profiles.c.id).where(driver_profiles.c.id == profile_id))
    return found is not None


def _get(conn: Connection, profile_id: int) -> DriverProfile:
    row = conn.execute(select(driver_profiles).where(driver_profiles.c.id == profile_id)).one()
    return _profile(row, _tags(conn, [profile_id])[profile_id])


def _tags(conn: Connection, profile_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {profile_id: [] for profile_id in profile_ids}
    if profile_ids:
        rows = conn.execute(
            select(driver_id_tags).where(driver_id_tags.c.driver_profile_id.in_(profile_ids))
        )
        for row in rows:
            found[row.driver_profile_id].append(row.id_tag)
    return found


def _values(profile: DriverProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "priority": profile.priority.value,
        "max_power_w": profile.max_power_w,
        "default_energy_wh": profile.default_energy_wh,
        "default_departure": profile.default_departure,
    }


def _profile(row: Row[Any], tags: list[str]) -> DriverProfile:
    return DriverProfile(
        id=row.id,
        name=row.name,
        priority=PriorityClass(row.priority),
        max_power_w=row.max_power_w,
        default_energy_wh=row.default_energy_wh,
        default_departure=row.default_departure,
        id_tags=tuple(tags),
        created_at=row.created_at,
    )
