"""A charge point's configuration keys (OCPP 1.6 section 9), with the answers
GetConfiguration and ChangeConfiguration give."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

# What the simulator can measure, so what MeterValuesSampledData may name.
MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Power.Offered",
        "Current.Import",
        "Current.Offered",
        "Voltage",
        "SoC",
    }
)
SAMPLED_BY_DEFAULT = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"


def is_count(value: str) -> bool:
    return value.isdigit()


def is_boolean(value: str) -> bool:
    return value.lower() in ("true", "false")


def is_measurand_list(value: str) -> bool:
    return value == "" or all(item.strip() in MEASURANDS for item in value.split(","))


def is_basic_auth_password(value: str) -> bool:
    """Security whitepaper: 16 to 40 characters (AmpNexus accepts any printable ones)."""
    return 16 <= len(value) <= 40 and value.isprintable() and ":" not in value


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    value: str
    readonly: bool = False
    valid: Callable[[str], bool] = is_count
    write_only: bool = False  # never shown, only set (AuthorizationKey)


class Configuration:
    def __init__(self, keys: Iterable[Key]) -> None:
        self._keys = {key.name: key for key in keys}

    def __contains__(self, name: str) -> bool:
        return name in self._keys

    def get(self, name: str) -> str:
        return self._keys[name].value

    def integer(self, name: str) -> int:
        return int(self._keys[name].value)

    def flag(self, name: str) -> bool:
        return self._keys[name].value.lower() == "true"

    def csl(self, name: str) -> list[str]:
        return [item.strip() for item in self._keys[name].value.split(",") if item.strip()]

    def set(self, name: str, value: str) -> None:
        """The charge point's own change (e.g. the heartbeat interval from a boot answer)."""
        self._keys[name] = replace(self._keys[name], value=value)

    def read(self, names: list[str] | None) -> dict[str, Any]:
        """A GetConfiguration.conf payload. A write-only key is never disclosed: asked
        for by name, it is reported as unknown, the only "unreadable" OCPP 1.6 has."""
        wanted = names if names else [k.name for k in self._keys.values() if not k.write_only]
        readable = [n for n in wanted if n in self._keys and not self._keys[n].write_only]
        unknown = [n for n in wanted if n not in readable]
        answer: dict[str, Any] = {
            "configurationKey": [
                {"key": n, "readonly": self._keys[n].readonly, "value": self._keys[n].value}
                for n in readable
            ]
        }
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    def change(self, name: str, value: str) -> str:
        """A ChangeConfiguration.conf status: Accepted, Rejected or NotSupported."""
        key = self._keys.get(name)
        if key is None:
            return "NotSupported"
        if key.readonly or not key.valid(value):
            return "Rejected"
        self.set(name, value.lower() if key.valid is is_boolean else value)
        return "Accepted"


def default_configuration(
    *,
    connectors: int,
    password: str | None,
    heartbeat_interval: int = 300,
    meter_sample_interval: int = 60,
) -> Configuration:
    def any_text(value: str) -> bool:
        return len(value) <= 500

    rotation = ",".join(f"{n}.RST" for n in range(1, connectors + 1))
    return Configuration(
        [
            # Core
            Key("AllowOfflineTxForUnknownId", "false", valid=is_boolean),
            Key("AuthorizationCacheEnabled", "true", valid=is_boolean),
            Key("AuthorizeRemoteTxRequests", "false", valid=is_boolean),
            Key("ClockAlignedDataInterval", "0"),
            Key("ConnectionTimeOut", "120"),
            Key("ConnectorPhaseRotation", rotation, valid=any_text),
            Key("GetConfigurationMaxKeys", "50", readonly=True),
            Key("HeartbeatInterval", str(heartbeat_interval)),
            Key("LocalAuthorizeOffline", "true", valid=is_boolean),
            Key("LocalPreAuthorize", "false", valid=is_boolean),
            Key("MeterValuesAlignedData", "Energy.Active.Import.Register", valid=is_measurand_list),
            Key("MeterValuesSampledData", SAMPLED_BY_DEFAULT, valid=is_measurand_list),
            Key("MeterValueSampleInterval", str(meter_sample_interval)),
            Key("NumberOfConnectors", str(connectors), readonly=True),
            Key("ResetRetries", "1"),
            Key("StopTransactionOnEVSideDisconnect", "true", valid=is_boolean),
            Key("StopTransactionOnInvalidId", "true", valid=is_boolean),
            Key("StopTxnAlignedData", "", valid=is_measurand_list),
            Key("StopTxnSampledData", "", valid=is_measurand_list),
            Key("SupportedFeatureProfiles", "Core,SmartCharging,RemoteTrigger", readonly=True),
            Key("TransactionMessageAttempts", "3"),
            Key("TransactionMessageRetryInterval", "60"),
            Key("UnlockConnectorOnEVSideDisconnect", "true", valid=is_boolean),
            Key("WebSocketPingInterval", "0"),
            # Smart Charging
            Key("ChargeProfileMaxStackLevel", "10", readonly=True),
            Key("ChargingScheduleAllowedChargingRateUnit", "Current,Power", readonly=True),
            Key("ChargingScheduleMaxPeriods", "24", readonly=True),
            Key("MaxChargingProfilesInstalled", "10", readonly=True),
            # Security whitepaper: the HTTP Basic password, write-only.
            Key("AuthorizationKey", password or "", valid=is_basic_auth_password, write_only=True),
        ]
    )
