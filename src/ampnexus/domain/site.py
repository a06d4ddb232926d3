"""Sites: a grid connection, the fuse tree of circuits below it, where each charger hangs in
that tree, and the power left for EVs right now.

Units: W inside (limits in kW at the API edge), A per phase, V line to neutral.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time

from ampnexus.domain.charging_mode import ChargingMode, check_site_default, mode_named
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.needs import NeedDefault
from ampnexus.domain.series import zone_of

# Ids travel in URLs: letters, digits, '.', '_' and '-', like charge point ids.
SITE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,48}$")
PHASE_ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")  # OCPP ConnectorPhaseRotation
UNKNOWN_ROTATIONS = ("NotApplicable", "Unknown")
DEFAULT_ENERGY_WH = 10_000.0
DEFAULT_DEPARTURE = time(18, 0)


class CircuitTreeError(Conflict):
    """The circuits would no longer form one tree."""


@dataclass(frozen=True, slots=True)
class Site:
    """`grid_limit_w` and `grid_limit_a` (per phase) bound what the site imports; either or
    both may be set. `safety_margin` is the fraction of every limit kept free. The default
    energy and departure (site-local time of day) apply to sessions nobody described;
    `default_mode` to chargers without a mode of their own (None: smart)."""

    id: str
    name: str
    time_zone: str
    grid_limit_w: float | None = None
    grid_limit_a: float | None = None
    phases: int = 3
    voltage: float = 230.0
    safety_margin: float = 0.0
    default_energy_wh: float = DEFAULT_ENERGY_WH
    default_departure: time = DEFAULT_DEPARTURE
    default_mode: ChargingMode | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "site id")
        if not self.name.strip():
            raise Invalid("a site needs a name")
        zone_of(self.time_zone)
        _positive(self.grid_limit_w, "the grid power limit")
        _positive(self.grid_limit_a, "the grid current limit")
        if self.phases not in (1, 2, 3):
            raise Invalid(f"phases must be 1, 2 or 3, got {self.phases}")
        _positive(self.voltage, "voltage")
        if not 0 <= self.safety_margin < 1:
            raise Invalid(f"safety_margin is a fraction in [0, 1), got {self.safety_margin}")
        _positive(self.default_energy_wh, "default energy")
        if self.default_mode is not None:
            object.__setattr__(self, "default_mode", mode_named(self.default_mode))
        check_site_default(self.default_mode)

    @property
    def limit_w(self) -> float:
        """The grid connection's power limit: the lower of the kW and the A limits (inf: none)."""
        by_current = (
            math.inf
            if self.grid_limit_a is None
            else self.grid_limit_a * self.voltage * self.phases
        )
        return min(by_current, math.inf if self.grid_limit_w is None else self.grid_limit_w)

    @property
    def need_default(self) -> NeedDefault:
        return NeedDefault(self.default_energy_wh, self.default_departure, source="site")


@dataclass(frozen=True, slots=True)
class Circuit:
    """A node of the site's fuse tree; `parent_id` None for the one root (the main board)."""

    site_id: str
    id: str
    parent_id: str | None = None
    name: str | None = None
    max_power_w: float | None = None
    max_current_a: float | None = None  # per phase

    def __post_init__(self) -> None:
        check_id(self.id, "circuit id")
        _positive(self.max_power_w, "a circuit's power limit")
        _positive(self.max_current_a, "a circuit's current limit")
        if self.parent_id == self.id:
            raise CircuitTreeError(f"circuit {self.id!r} cannot be its own parent")


def validate_tree(circuits: Sequence[Circuit]) -> None:
    """One root, every parent known, no cycles, ids unique; raises CircuitTreeError."""
    ids = [circuit.id for circuit in circuits]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CircuitTreeError(f"circuit ids must be unique, repeated: {', '.join(duplicates)}")
    parents = {circuit.id: circuit.parent_id for circuit in circuits}
    roots = sorted(i for i, parent in parents.items() if parent is None)
    if circuits and len(roots) != 1:
        found = ", ".join(roots) or "none"
        raise CircuitTreeError(f"a site's circuits need exactly one root circuit, found {found}")
    for circuit in circuits:
        path = [circuit.id]
        node = circuit.parent_id
        while node is not None:
            if node not in parents:
                raise CircuitTreeError(f"circuit {path[-1]!r} has unknown parent {node!r}")
            if node in path:
                cycle = " -> ".join([*path[path.index(node) :], node])
                raise CircuitTreeError(f"circuits would form a cycle: {cycle}")
            path.append(node)
            node = parents[node]


def subtree(circuits: Iterable[Circuit], root_id: str) -> set[str]:
    """`root_id` and every circuit below it."""
    children: dict[str | None, list[str]] = {}
    for circuit in circuits:
        children.setdefault(circuit.parent_id, []).append(circuit.id)
    found, todo = set(), [root_id]
    while todo:
        node = todo.pop()
        if node not in found:
            found.add(node)
            todo += children.get(node, [])
    return found


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a charger hangs: on a site, optionally on one of its circuits; how many phases it
    uses, its maximum power, and how its phases are wired to the grid's (OCPP
    ConnectorPhaseRotation: "SRT" means the charger's L1 is on the grid's L2)."""

    charge_point_id: str
    site_id: str | None = None
    circuit_id: str | None = None
    phases: int | None = None
    max_power_w: float | None = None
    phase_rotation: str | None = None

    def __post_init__(self) -> None:
        if self.circuit_id is not None and self.site_id is None:
            raise Invalid("a charger on a circuit must also name the circuit's site_id")
        if self.phases is not None and self.phases not in (1, 2, 3):
            raise Invalid(f"phases must be 1, 2 or 3, got {self.phases}")
        _positive(self.max_power_w, "max_power_w")
        allowed = (*PHASE_ROTATIONS, *UNKNOWN_ROTATIONS)
        if self.phase_rotation is not None and self.phase_rotation not in allowed:
            raise Invalid(f"phase_rotation must be one of {', '.join(allowed)}")

    def grid_phases(self, default_phases: int = 3) -> tuple[int, ...]:
        """The grid phases (1 = L1) the charger draws on, after its rotation; an unknown
        rotation is taken as RST."""
        rotation = self.phase_rotation if self.phase_rotation in PHASE_ROTATIONS else "RST"
        assert rotation is not None
        used = rotation[: self.phases or default_phases]
        return tuple(sorted("RST".index(letter) + 1 for letter in used))


@dataclass(frozen=True, slots=True)
class SiteLayout:
    """A site with its circuits and the chargers placed on it: what a plan is built on, and
    what every change to the tree is checked against."""

    site: Site
    circuits: tuple[Circuit, ...] = ()
    placements: tuple[Placement, ...] = ()

    def circuit(self, circuit_id: str) -> Circuit | None:
        return next((c for c in self.circuits if c.id == circuit_id), None)


def add_circuit(layout: SiteLayout, circuit: Circuit) -> SiteLayout:
    if layout.circuit(circuit.id) is not None:
        raise Conflict(f"site {layout.site.id!r} already has a circuit {circuit.id!r}")
    _check_parent(layout, circuit)
    return _with_circuits(layout, (*layout.circuits, circuit))


def replace_circuit(layout: SiteLayout, circuit: Circuit) -> SiteLayout:
    _existing_circuit(layout, circuit.id)
    _check_parent(layout, circuit)
    changed = tuple(circuit if c.id == circuit.id else c for c in layout.circuits)
    return _with_circuits(layout, changed)


def remove_circuit(layout: SiteLayout, circuit_id: str) -> SiteLayout:
    """Only a circuit with nothing below it goes: no sub-circuits, no chargers."""
    _existing_circuit(layout, circuit_id)
    children = sorted(c.id for c in layout.circuits if c.parent_id == circuit_id)
    if children:
        raise Conflict(
            f"circuit {circuit_id!r} has sub-circuits {', '.join(children)}: "
            "delete or move them first"
        )
    chargers = sorted(p.charge_point_id for p in layout.placements if p.circuit_id == circuit_id)
    if chargers:
        raise Conflict(
            f"circuit {circuit_id!r} feeds charge points {', '.join(chargers)}: "
            "move them first (PUT /charge-points/{id})"
        )
    return _with_circuits(layout, tuple(c for c in layout.circuits if c.id != circuit_id))


def place(layout: SiteLayout, placement: Placement) -> SiteLayout:
    """Put (or move) a charger on this site; its circuit must be one of the site's."""
    if placement.site_id != layout.site.id:
        raise Invalid(f"the placement names site {placement.site_id!r}, not {layout.site.id!r}")
    if placement.circuit_id is not None and layout.circuit(placement.circuit_id) is None:
        raise Invalid(
            f"circuit {placement.circuit_id!r} is not a circuit of site {layout.site.id!r}"
        )
    others = tuple(p for p in layout.placements if p.charge_point_id != placement.charge_point_id)
    return replace(layout, placements=(*others, placement))


def _existing_circuit(layout: SiteLayout, circuit_id: str) -> Circuit:
    circuit = layout.circuit(circuit_id)
    if circuit is None:
        raise NotFound(f"site {layout.site.id!r} has no circuit {circuit_id!r}")
    return circuit


def _check_parent(layout: SiteLayout, circuit: Circuit) -> None:
    if circuit.site_id != layout.site.id:
        raise Invalid(f"circuit {circuit.id!r} belongs to site {circuit.site_id!r}")
    if circuit.parent_id is not None and layout.circuit(circuit.parent_id) is None:
        raise Invalid(
            f"parent circuit {circuit.parent_id!r} is not a circuit of site {layout.site.id!r}"
        )


def _with_circuits(layout: SiteLayout, circuits: tuple[Circuit, ...]) -> SiteLayout:
    validate_tree(circuits)
    return replace(layout, circuits=circuits)


def dynamic_cap_w(
    site: Site,
    meter_w: float,
    ev_w: float,
    solar_w: float = 0.0,
    margin: float | None = None,
) -> float:
    """The power EVs may draw now without the site importing more than its limit.

    `meter_w` is what the whole site consumes, EVs included, before solar (the reading pushed
    to POST /sites/{id}/meter); `ev_w` is what the EVs draw now, so the load that is not EVs
    is `meter_w - ev_w`. Solar feeds that load first, so:

        cap = limit * (1 - margin) - (meter_w - ev_w) + solar_w, never below 0.

    A meter at the grid connection that measures net import already has solar subtracted:
    pass `solar_w=0` for it. `margin` defaults to the site's safety margin; no limit: inf.
    """
    margin = site.safety_margin if margin is None else margin
    if not 0 <= margin < 1:
        raise Invalid(f"margin is a fraction in [0, 1), got {margin}")
    non_ev_load_w = meter_w - ev_w
    return max(0.0, site.limit_w * (1 - margin) - non_ev_load_w + solar_w)


def check_id(value: str, what: str) -> None:
    if not SITE_ID.match(value):
        raise Invalid(f"{what} must be 1 to 48 characters of letters, digits, '.', '_' or '-'")


def _positive(value: float | None, name: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise Invalid(f"{name} must be a positive number, got {value}")
