"""Smart charging at run time: turn a site's state into a plan, the plan into charging
profiles, and keep both current.

`SmartChargingService` (service) replans a site on events and a timer, one replan at a
time with bursts coalesced, and keeps the last good plan when a replan fails. It composes
small parts, each holding the state it alone changes; a part uses only those listed
before it:

- model: the plan of a site and what the parts hand each other;
- background: the service's tasks, and alerts raised without waiting;
- places: chargers' sites and bounds, sites' layouts;
- readings: what chargers' meters said lately;
- health: which chargers refuse profiles or stay silent (planned at their maximum);
- capabilities: each charger's smart-charging keys (what profiles it takes);
- fail_safes: what each charger may draw with AmpNexus unreachable (ADR 0003);
- expected: the EVs expected later in the horizon (forecast, or prior; ADR 0005, 0007);
- request: a site's state as a PlanRequest, within plausible bounds;
- dispatch: the plan as profiles, sent in two waves (ADR 0003, dispatch);
- safety: the last resort, stopping sessions the site cannot hold (ADR 0003).
"""

from ampnexus.services.smart_charging.capabilities import (
    CAPABILITY_KEYS,
    KEYS_WAIT_S,
    capabilities_from,
)
from ampnexus.services.smart_charging.dispatch import ENDED_REMEMBERED
from ampnexus.services.smart_charging.expected import HISTORY_MAX_AGE, past_session
from ampnexus.services.smart_charging.fail_safes import (
    BUILDING_RESERVE_WINDOW,
    fail_safe_share_w,
)
from ampnexus.services.smart_charging.model import (
    DEFAULT_MAX_POWER_W,
    ERROR_CHARS,
    METER_MAX_AGE,
    REFUSALS_BEFORE_EXCLUDED,
    SITE,
    Planner,
    ReplanFailure,
    SitePlan,
)
from ampnexus.services.smart_charging.readings import POWER_CHANGE_W
from ampnexus.services.smart_charging.safety import STOP_WAIT_S
from ampnexus.services.smart_charging.service import SmartChargingService

__all__ = [
    "BUILDING_RESERVE_WINDOW",
    "CAPABILITY_KEYS",
    "DEFAULT_MAX_POWER_W",
    "ENDED_REMEMBERED",
    "ERROR_CHARS",
    "HISTORY_MAX_AGE",
    "KEYS_WAIT_S",
    "METER_MAX_AGE",
    "POWER_CHANGE_W",
    "REFUSALS_BEFORE_EXCLUDED",
    "SITE",
    "STOP_WAIT_S",
    "Planner",
    "ReplanFailure",
    "SitePlan",
    "SmartChargingService",
    "capabilities_from",
    "fail_safe_share_w",
    "past_session",
]
