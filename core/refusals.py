"""Why a use case did nothing: one base class, so every surface (a Slack note, an inline modal
error, an HTTP 4xx) handles every refusal the same way. The message is for the user.

A message that names people holds ``{placeholders}`` for them and their user ids in
``people``: ``str()`` shows the plain ids (the API), and each surface may show them its own way
(Slack as mentions), so no surface's syntax is written here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime


class LeadbotError(Exception):
    """The root of every error meant for a person (an operator at the command line, an API
    client, someone in Slack): ``str()`` is one line that says what is wrong and, where it
    helps, what to do. Each surface maps this one class, once (the CLI: one line on stderr and
    exit status 2); anything else is a bug and is logged as one."""


class Refusal(LeadbotError):
    """The use case declined and nothing was changed; ``str()`` says why, for the user."""

    def __init__(self, message: str, *, people: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.people = dict(people or {})

    def text(self, person: Callable[[str], str] = str) -> str:
        """The message with each person shown by ``person`` (their user id by default)."""
        if not self.people:
            return self.message
        return self.message.format_map({key: person(user) for key, user in self.people.items()})

    def __str__(self) -> str:
        return self.text()


class Refused(Refusal):
    """The user may not do this, or the input is wrong."""


class UnknownLead(Refused):
    """No such lead."""


class ErasedLead(UnknownLead):
    """The lead was erased (on request, or anonymized by retention): nothing more is done with
    it, and nothing about it is shown."""

    def __init__(self, lead_id: int, erased_at: datetime) -> None:
        super().__init__(f"Lead {lead_id} was erased on {erased_at:%Y-%m-%d}.")
        self.lead_id = lead_id


class Invalid(Refused):
    """Bad answers in a form; ``errors`` maps a field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
