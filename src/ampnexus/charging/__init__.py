"""Deciding energy: planning inputs and outputs (model.py), the planner, and the
compiler that turns a plan into OCPP charging profiles. Pure: no I/O."""
