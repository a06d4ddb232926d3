"""A scriptable OCPP 1.6J charge point simulator, for tests, demos and benchmarks.

clock.py         simulated time, faster than real time if wanted
ev.py            the EV: battery, state of charge, taper, departure
configuration.py the charge point's configuration keys
charger.py       one charge point's hardware and state, and its physics
metering.py      MeterValue elements from a reading
auth_cache.py    the Authorization Cache
connection.py    the OCPP-J link over a real WebSocket
outbox.py        messages to the CSMS, in order, kept while offline
handlers.py      answers to the CSMS's commands
charge_point.py  SimChargePoint: all of the above on one connection
script.py        events at times, from a JSON file or Python
fleet.py         many charge points; `ampnexus simulate`
demo.py          `ampnexus demo`
"""

from ampnexus.sim.charge_point import SimChargePoint
from ampnexus.sim.charger import CATALOGUE, ChargerSpec, catalogue_spec
from ampnexus.sim.clock import SimClock
from ampnexus.sim.ev import EV
from ampnexus.sim.fleet import Fleet, fleet_ids, fleet_specs
from ampnexus.sim.script import Event, load_script, parse_script, run_script

__all__ = [
    "CATALOGUE",
    "EV",
    "ChargerSpec",
    "Event",
    "Fleet",
    "SimChargePoint",
    "SimClock",
    "catalogue_spec",
    "fleet_ids",
    "fleet_specs",
    "load_script",
    "parse_script",
    "run_script",
]
