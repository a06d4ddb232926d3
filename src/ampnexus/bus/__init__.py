"""Events and command routing between parts of AmpNexus: in-process for one node."""
