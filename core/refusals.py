"""Why a use case did nothing: one base class, so every surface (a Slack note, an inline modal
error, an HTTP 4xx) handles every refusal the same way. The message is for the user."""

from __future__ import annotations


class Refusal(Exception):
    """The use case declined and nothing was changed; ``str()`` says why, for the user."""


class Refused(Refusal):
    """The user may not do this, or the input is wrong."""


class UnknownLead(Refused):
    """No such lead."""


class Invalid(Refused):
    """Bad answers in a form; ``errors`` maps a field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
