"""Why AmpNexus cannot start, in words an operator can act on."""


class StartupError(Exception):
    """AmpNexus cannot start: the message says why (and what to do) in one line."""


class DatabaseUnavailable(StartupError):
    pass


class PortUnavailable(StartupError):
    pass


class TlsUnavailable(StartupError):
    pass
