"""Use cases: what AmpNexus does when a charger speaks or an operator asks.

Services know the domain and the ports they need (ports.py); storage and the
protocol adapter plug into those ports from outside.
"""
