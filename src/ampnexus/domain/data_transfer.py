"""DataTransfer messages as kept: vendor-specific data in either direction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    IN = "in"  # the charger sent it to the CSMS
    OUT = "out"  # the CSMS (an operator, through the API) sent it to the charger


# What is kept as the status of a DataTransfer sent that got no DataTransfer.conf.
NO_ANSWER = "NoAnswer"  # the charger did not answer in time
CALL_ERROR = "CallError"  # the charger answered with a CALLERROR


@dataclass(frozen=True, slots=True)
class DataTransferRecord:
    """`status`: the answer's status (the CSMS's for `in`, the charger's for `out`)."""

    id: int
    charge_point_id: str
    direction: Direction
    vendor_id: str
    message_id: str | None
    data: str | None
    status: str | None
    at: datetime
