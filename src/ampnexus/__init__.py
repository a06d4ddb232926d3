"""AmpNexus: an open-source charge point management system (CSMS)."""

__version__ = "0.1.0"
