"""Checked by mypy only: each fake is assignable to the port it stands in for."""

from __future__ import annotations

from ampnexus.domain.time import Clock
from ampnexus.services import ports
from tests.fakes import Fakes

_fakes = Fakes()
_clock: Clock = _fakes.clock
_events: ports.EventPublisher = _fakes.events
_charge_points: ports.ChargePointStore = _fakes.charge_points
_id_tags: ports.IdTagStore = _fakes.id_tags
_transactions: ports.TransactionStore = _fakes.transactions
_data_transfers: ports.DataTransferStore = _fakes.data_transfers
_api_keys: ports.ApiKeyStore = _fakes.api_keys
_alerts: ports.AlertStore = _fakes.alerts
_sites: ports.SiteStore = _fakes.sites
_tariffs: ports.TariffStore = _fakes.tariffs
_series: ports.SeriesStore = _fakes.series
_drivers: ports.DriverProfileStore = _fakes.drivers
_needs: ports.NeedStore = _fakes.needs
_modes: ports.ModeStore = _fakes.modes
_operator_profiles: ports.OperatorProfileStore = _fakes.operator_profiles
_users: ports.UserStore = _fakes.users
_portal_sessions: ports.PortalSessionStore = _fakes.portal_sessions
