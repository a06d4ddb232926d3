"""The pure model of AmpNexus: value objects and rules, no I/O and no frameworks."""
