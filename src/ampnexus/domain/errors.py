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
    """The charger answered a command with a CALLERROR, or with an answer off the action's
    schema (then `code` names the violation as a CALLERROR would, and `message` says it)."""

    def __init__(self, code: str, description: str, message: str | None = None) -> None:
        super().__init__(message or f"charger answered {code}: {description}".rstrip(": "))
        self.code = code
        self.description = description


class UnreadableAnswer(CommandFailed):
    """The charger's answer passed its protocol's checks but cannot be read into the domain's
    terms (a status the domain does not know, a field of the wrong shape): like an answer off
    the schema, it is no answer."""


class BadCredentials(DomainError):
    """A sign-in refused: the message never says whether the account exists."""


class TooManyAttempts(DomainError):
    """Refused without looking: too many failures lately (or the checks are saturated).
    Try again after `retry_after` seconds (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
