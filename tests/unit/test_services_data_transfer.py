"""DataTransferService: every transfer is recorded, answered by its vendor's handler."""

from __future__ import annotations

from ampnexus.services.data_transfer import DataTransferReply, DataTransferService
from tests.fakes import Fakes


async def test_a_transfer_is_answered_by_its_vendor_and_recorded_either_way() -> None:
    fakes = Fakes()
    transfers = DataTransferService(fakes.data_transfers, fakes.clock)
    asked: list[tuple[str, str | None, str | None]] = []

    async def acme(
        charge_point_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        asked.append((charge_point_id, message_id, data))
        return DataTransferReply("Accepted", "pong")

    transfers.register_vendor("com.acme", acme)
    assert await transfers.received("CP-1", "com.acme", "ping", "1") == DataTransferReply(
        "Accepted", "pong"
    )
    first_at = fakes.clock.now()
    fakes.clock.advance(seconds=5)
    unknown = await transfers.received("CP-1", "org.other", None, None)
    assert unknown.status == "UnknownVendorId"
    await transfers.sent("CP-1", "com.acme", "reset", None, "Rejected")
    assert asked == [("CP-1", "ping", "1")]
    recorded = [
        (t["direction"], t["vendor_id"], t["status"], t["received_at"])
        for t in fakes.memory.data_transfers
    ]
    assert recorded == [
        ("in", "com.acme", "Accepted", first_at),
        ("in", "org.other", "UnknownVendorId", fakes.clock.now()),
        ("out", "com.acme", "Rejected", fakes.clock.now()),
    ]
