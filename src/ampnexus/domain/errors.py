"""Errors a use case can end in; the adapters map them to HTTP or OCPP answers."""


class DomainError(Exception):
    """Base of every expected failure; its message is shown to the user."""


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class Invalid(DomainError):
    pass


class ChargerNotConnected(Conflict):
    pass


class Unavailable(DomainError):
    """Cannot be done now, through no fault of the request; it may work later."""


class CommandTimeout(DomainError):
    pass


class CommandFailed(DomainError):
    """The charger answered a command with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"charger answered {code}: {description}".rstrip(": "))
        self.code = code
        self.description = description
