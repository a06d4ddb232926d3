"""The local authorization list's pure parts: which tags a charger should hold, what changed,
how updates are split and versioned, and how an update is written in OCPP 1.6."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ampnexus.domain.id_tag import AuthorizationStatus, IdTag, IdTagInfo
from ampnexus.domain.local_list import (
    ListEntry,
    ListLimits,
    ListUpdate,
    UpdateType,
    apply,
    differential,
    differential_updates,
    fit,
    full_updates,
    wanted_entries,
)
from ampnexus.ocpp.v16.commands import authorization_data

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ACCEPTED = IdTagInfo(AuthorizationStatus.ACCEPTED)
BLOCKED = IdTagInfo(AuthorizationStatus.BLOCKED)


def entry(id_tag: str, info: IdTagInfo | None = ACCEPTED) -> ListEntry:
    return ListEntry(id_tag, info)


def entries(*names: str) -> list[ListEntry]:
    return [entry(name) for name in names]


def test_a_chargers_own_tag_is_on_its_list_alone():
    tags = [
        IdTag("CARD", parent_id_tag="FLEET"),
        IdTag("PNC-A", charge_point_id="CP-A"),
        IdTag("PNC-B", charge_point_id="CP-B"),
    ]
    assert [e.id_tag for e in wanted_entries(tags, "CP-A")] == ["CARD", "PNC-A"]
    assert wanted_entries(tags, "CP-A")[0].info == IdTagInfo(
        AuthorizationStatus.ACCEPTED, None, "FLEET"
    )


def test_the_differential_adds_changes_and_removes_case_insensitively():
    held = [entry("KEEP"), entry("change"), entry("GONE"), entry("respelt")]
    wanted = [entry("KEEP"), entry("CHANGE", BLOCKED), entry("NEW"), entry("RESPELT")]
    assert differential(held, wanted) == [
        entry("CHANGE", BLOCKED),
        entry("NEW"),
        entry("RESPELT"),  # the same tag (deleted, added again): an update, not a removal
        entry("GONE", None),
    ]
    assert differential(wanted, wanted) == []


def test_applying_an_update_gives_the_list_the_charger_holds():
    held = (entry("A"), entry("B"))
    diff = ListUpdate(2, UpdateType.DIFFERENTIAL, (entry("b", None), entry("C", BLOCKED)))
    assert apply(held, diff) == (entry("A"), entry("C", BLOCKED))
    full = ListUpdate(3, UpdateType.FULL, (entry("Z"),))
    assert apply(held, full) == (entry("Z"),)


def test_a_full_list_is_split_into_sends_of_at_most_the_maximum_each_a_version_up():
    updates = full_updates(entries("A", "B", "C", "D", "E"), after_version=7, send_max=2)
    assert [(u.version, u.kind, [e.id_tag for e in u.entries]) for u in updates] == [
        (8, UpdateType.FULL, ["A", "B"]),
        (9, UpdateType.DIFFERENTIAL, ["C", "D"]),
        (10, UpdateType.DIFFERENTIAL, ["E"]),
    ]
    held: tuple[ListEntry, ...] = ()
    for update in updates:
        held = apply(held, update)
    assert held == tuple(entries("A", "B", "C", "D", "E"))


def test_an_empty_full_list_is_one_send_that_clears_and_no_change_is_no_send():
    assert full_updates([], after_version=0, send_max=5) == [ListUpdate(1, UpdateType.FULL, ())]
    assert differential_updates([], after_version=3, send_max=5) == []
    assert [len(u.entries) for u in full_updates(entries("A", "B"), 0, None)] == [2]
    split = differential_updates(entries("A", "B", "C"), after_version=3, send_max=2)
    assert [(u.version, u.kind, len(u.entries)) for u in split] == [
        (4, UpdateType.DIFFERENTIAL, 2),
        (5, UpdateType.DIFFERENTIAL, 1),
    ]


def test_what_does_not_fit_leaves_out_expired_then_refused_tags_first():
    outdated = IdTagInfo(AuthorizationStatus.ACCEPTED, NOW - timedelta(days=1))
    valid_until = IdTagInfo(AuthorizationStatus.ACCEPTED, NOW + timedelta(days=1))
    listed = [
        entry("OUTDATED", outdated),
        entry("EXPIRED", IdTagInfo(AuthorizationStatus.EXPIRED)),
        entry("BLOCKED", BLOCKED),
        entry("INVALID", IdTagInfo(AuthorizationStatus.INVALID)),
        entry("VALID-B"),
        entry("valid-a", valid_until),
    ]
    kept, left_out = fit(listed, 3, NOW)
    assert [e.id_tag for e in kept] == ["valid-a", "VALID-B", "BLOCKED"]
    assert left_out == ["EXPIRED", "INVALID", "OUTDATED"]
    assert fit(listed, None, NOW)[1] == [] and len(fit(listed, 6, NOW)[0]) == 6
    assert fit(listed, 0, NOW)[0] == []


def test_the_limits_are_read_from_the_chargers_keys():
    values = {
        "SupportedFeatureProfiles": "Core, LocalAuthListManagement,Reservation",
        "LocalAuthListMaxLength": "500",
        "SendLocalListMaxLength": "50",
    }
    assert ListLimits.of(values) == ListLimits(True, 500, 50)
    assert ListLimits.of({"SupportedFeatureProfiles": "Core,SmartCharging"}).supported is False
    odd = {"LocalAuthListMaxLength": "lots", "SendLocalListMaxLength": "0"}
    assert ListLimits.of(odd) == ListLimits(None, None, None)  # unknown: none assumed


def test_authorization_data_is_written_as_ocpp_and_a_removal_has_no_info():
    info = IdTagInfo(AuthorizationStatus.ACCEPTED, NOW, "FLEET")
    assert authorization_data(entry("CARD", info)) == {
        "idTag": "CARD",
        "idTagInfo": {
            "status": "Accepted",
            "expiryDate": "2026-06-01T12:00:00.000Z",
            "parentIdTag": "FLEET",
        },
    }
    assert authorization_data(entry("CARD", None)) == {"idTag": "CARD"}
