"""Tariffs, their time-of-use bands and dynamic price periods, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from ampnexus.domain.tariff import Band, PricePeriod, Tariff, TariffKind
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.tables import tariff_bands, tariff_prices, tariffs


class SqlTariffStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, tariff: Tariff) -> Tariff:
        def work(conn: Connection) -> Tariff:
            tariff_id = conn.execute(
                insert(tariffs)
                .values(
                    site_id=tariff.site_id,
                    name=tariff.name,
                    kind=tariff.kind.value,
                    import_price=tariff.import_price,
                    export_price=tariff.export_price,
                    valid_from=tariff.valid_from,
                    created_at=tariff.created_at,
                )
                .returning(tariffs.c.id)
            ).scalar_one()
            if tariff.bands:
                conn.execute(
                    insert(tariff_bands),
                    [_band_values(tariff_id, i, band) for i, band in enumerate(tariff.bands)],
                )
            row = conn.execute(select(tariffs).where(tariffs.c.id == tariff_id)).one()
            return _tariff(row, tariff.bands)

        return await self._db.write(work)

    async def get(self, site_id: str, tariff_id: int) -> Tariff | None:
        def work(conn: Connection) -> Tariff | None:
            row = conn.execute(
                select(tariffs).where(tariffs.c.id == tariff_id, tariffs.c.site_id == site_id)
            ).first()
            return _tariff(row, _bands(conn, [tariff_id])[tariff_id]) if row else None

        return await self._db.read(work)

    async def list(self, site_id: str, limit: int, offset: int) -> Page[Tariff]:
        def work(conn: Connection) -> Page[Tariff]:
            where = tariffs.c.site_id == site_id
            total = conn.scalar(select(func.count()).where(where)) or 0
            rows = conn.execute(
                select(tariffs).where(where).order_by(tariffs.c.id).limit(limit).offset(offset)
            ).all()
            bands = _bands(conn, [row.id for row in rows])
            return Page([_tariff(row, bands[row.id]) for row in rows], total)

        return await self._db.read(work)

    async def delete(self, site_id: str, tariff_id: int) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(
                delete(tariffs).where(tariffs.c.id == tariff_id, tariffs.c.site_id == site_id)
            )
            return result.rowcount > 0

        return await self._db.write(work)

    async def replace_periods(self, tariff_id: int, periods: Sequence[PricePeriod]) -> int:
        if not periods:
            return 0
        start = min(period.start for period in periods)
        end = max(period.end for period in periods)
        rows = [
            {
                "tariff_id": tariff_id,
                "starts_at": period.start,
                "ends_at": period.end,
                "import_price": period.import_price,
                "export_price": period.export_price,
            }
            for period in periods
        ]

        def work(conn: Connection) -> int:
            replaced = conn.execute(
                delete(tariff_prices).where(
                    tariff_prices.c.tariff_id == tariff_id,
                    tariff_prices.c.starts_at < end,
                    tariff_prices.c.ends_at > start,
                )
            ).rowcount
            conn.execute(insert(tariff_prices), rows)
            return replaced

        return await self._db.write(work)

    async def periods(
        self,
        tariff_id: int,
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        offset: int = 0,
    ) -> Page[PricePeriod]:
        conditions = [tariff_prices.c.tariff_id == tariff_id]
        if start is not None:
            conditions.append(tariff_prices.c.ends_at > start)
        if end is not None:
            conditions.append(tariff_prices.c.starts_at < end)

        def work(conn: Connection) -> Page[PricePeriod]:
            total = conn.scalar(select(func.count()).where(*conditions)) or 0
            rows = conn.execute(
                select(tariff_prices)
                .where(*conditions)
                .order_by(tariff_prices.c.starts_at)
                .limit(limit)
                .offset(offset)
            )
            return Page([_period(row) for row in rows], total)

        return await self._db.read(work)


def _band_values(tariff_id: int, position: int, band: Band) -> dict[str, Any]:
    return {
        "tariff_id": tariff_id,
        "position": position,
        "start_time": band.start,
        "end_time": band.end,
        "days": sum(1 << day for day in band.days),
        "import_price": band.import_price,
        "export_price": band.export_price,
    }


def _bands(conn: Connection, tariff_ids: list[int]) -> dict[int, list[Band]]:
    found: dict[int, list[Band]] = {tariff_id: [] for tariff_id in tariff_ids}
    if not tariff_ids:
        return found
    rows = conn.execute(
        select(tariff_bands)
        .where(tariff_bands.c.tariff_id.in_(tariff_ids))
        .order_by(tariff_bands.c.tariff_id, tariff_bands.c.position)
    )
    for row in rows:
        found[row.tariff_id].append(
            Band(
                start=row.start_time,
                end=row.end_time,
                import_price=row.import_price,
                export_price=row.export_price,
                days=frozenset(day for day in range(7) if row.days >> day & 1),
            )
        )
    return found


def _tariff(row: Row[Any], bands: Sequence[Band]) -> Tariff:
    return Tariff(
        id=row.id,
        site_id=row.site_id,
        name=row.name,
        kind=TariffKind(row.kind),
        import_price=row.import_price,
        export_price=row.export_price,
        bands=tuple(bands),
        valid_from=row.valid_from,
        created_at=row.created_at,
    )


def _period(row: Row[Any]) -> PricePeriod:
    return PricePeriod(row.starts_at, row.ends_at, row.import_price, row.export_price)
