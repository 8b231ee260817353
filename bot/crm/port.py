"""The two adapters behind one face: what the sync and the write worker need from a CRM.

``pages`` yields pages of :class:`core.crm.CrmChange` with the cursor (text) to store with each;
``send`` carries one queued write out and says how it went (:class:`Sent`); ``owners`` lists
the CRM's people for matching Slack users by e-mail; ``check`` and ``connect`` give one line
per problem, naming the setting to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.crm import hubspot, salesforce
from core import crm
from core.config import Settings, WorkspaceConfig
from core.refusals import LeadbotError


class CrmSetupError(LeadbotError):
    """A setting is wrong (the token, the URL, the credentials): one line naming it."""


@dataclass(frozen=True)
class Sent:
    """How a write went: ``done`` (``written``: the values the record now holds because of it,
    ``"__owner__"`` for the owner), ``retry`` after ``retry_after`` seconds (None: back-off),
    ``refused`` for good, or ``skip`` (the record may not be written: converted, deleted)."""

    outcome: Literal["done", "retry", "refused", "skip"]
    written: dict[str, Any] | None = None
    error: str = ""
    retry_after: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class Person:
    id: str
    email: str | None


class CrmAdapter(Protocol):
    system: str

    def connect(self) -> None: ...

    def pages(self, cursor: str | None) -> Iterator[tuple[list[crm.CrmChange], str]]: ...

    def gone(self, cursor: str | None) -> list[crm.CrmChange]: ...

    def owners(self) -> list[Person]: ...

    def send(
        self, kind: str, external_id: str, payload: Mapping[str, Any], key: str, at: datetime
    ) -> Sent: ...

    def check(self, rep_emails: Mapping[str, str | None]) -> list[str]: ...

    def close(self) -> None: ...


# --- HubSpot -------------------------------------------------------------------------------------


class HubSpotAdapter:
    system = "hubspot"

    def __init__(self, client: hubspot.HubSpotClient, config: WorkspaceConfig) -> None:
        self.client = client
        self.config = config
        self._portal: Any = None

    def close(self) -> None:
        self.client.close()

    def connect(self) -> None:
        """One quick question (no retries: start-up must not wait a minute to say the URL
        is wrong)."""
        attempts, self.client.max_attempts = self.client.max_attempts, 1
        try:
            self._connect()
        finally:
            self.client.max_attempts = attempts

    def _connect(self) -> None:
        try:
            self._portal = self.client.account().get("portalId")
        except hubspot.HubSpotAuthError:
            raise CrmSetupError(
                f"{hubspot.TOKEN_SETTING}: HubSpot does not accept this token "
                "(wrong, expired or revoked)"
            ) from None
        except hubspot.HubSpotUnreachable as exc:
            raise CrmSetupError(str(exc)) from None
        except hubspot.HubSpotRefused as exc:
            if exc.status == 404:
                raise CrmSetupError(
                    f"{hubspot.URL_SETTING}: {self.client.base_url} does not answer like "
                    "HubSpot's API"
                ) from None
            raise CrmSetupError(str(exc)) from None

    def _url(self, contact_id: str) -> str | None:
        if self._portal is None:
            try:
                self._portal = self.client.account().get("portalId")
            except hubspot.HubSpotError:
                return None
        return hubspot.contact_url(self._portal, contact_id)

    def _complete(self, change: crm.CrmChange) -> crm.CrmChange:
        values = {crm.LIFECYCLE_PROPERTY: change.stage, crm.LEAD_STATUS_PROPERTY: change.status}
        return replace(
            change,
            values=values,
            qualifies=crm.crm_qualifies(change.stage),
            url=self._url(change.external_id),
        )

    def pages(self, cursor: str | None) -> Iterator[tuple[list[crm.CrmChange], str]]:
        start = hubspot.SyncCursor.from_json(cursor)
        for page, after in self.client.changes(start, self.config.crm.hubspot.field_map):
            yield [self._complete(c) for c in page], after.to_json()

    def gone(self, cursor: str | None) -> list[crm.CrmChange]:
        return self.client.archived_changes(hubspot.SyncCursor.from_json(cursor))

    def owners(self) -> list[Person]:
        return [Person(o.id, o.email or None) for o in self.client.owners()]

    def send(
        self, kind: str, external_id: str, payload: Mapping[str, Any], key: str, at: datetime
    ) -> Sent:
        try:
            if kind == "stage":
                values = self.config.crm.hubspot.stage_map.get(str(payload.get("stage")))
                if not values:
                    return Sent("done", {}, note="the stage maps to no property")
                result = self.client.set_properties(external_id, values)
                note = "lifecycle stage cleared first" if result.cleared_first else None
                return Sent("done", dict(values), note=note)
            if kind == "owner":
                owner = payload.get("crm_owner")
                if not owner:
                    return Sent("skip", error="no HubSpot owner to set")
                self.client.set_owner(external_id, str(owner))
                return Sent("done", {"__owner__": owner})
            result = self.client.add_note(external_id, str(payload.get("text") or ""), key, at)
            return Sent("done", None, note=f"note {result.note_id}")
        except hubspot.HubSpotDailyLimit as exc:
            return Sent("retry", error=str(exc), retry_after=3600.0)
        except hubspot.HubSpotRefused as exc:
            return Sent("refused", error=str(exc))
        except hubspot.HubSpotError as exc:
            return Sent("retry", error=str(exc))

    def check(self, rep_emails: Mapping[str, str | None]) -> list[str]:
        problems = self.client.check(
            self.config.crm.hubspot.field_map, self.config.crm.hubspot.stage_map
        )
        if problems and any(
            p.startswith((hubspot.TOKEN_SETTING, hubspot.URL_SETTING)) for p in problems
        ):
            return problems
        try:
            owners = self.client.owners()
        except hubspot.HubSpotError as exc:
            return [*problems, str(exc)]
        _, unmatched = hubspot.match_owners(rep_emails, owners, self.config.crm.owners)
        return [*problems, *unmatched]


# --- Salesforce ----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SalesforceAdapter:
    system = "salesforce"

    def __init__(self, client: salesforce.SalesforceClient, config: WorkspaceConfig) -> None:
        self.client = client
        self.config = config
        self.sf_config = config.crm.salesforce

    def close(self) -> None:
        self.client.close()

    def connect(self) -> None:
        try:
            self.client.connect()
        except salesforce.SalesforceError as exc:
            raise CrmSetupError(exc.line) from None

    def _names(self) -> set[str]:
        names = set(self.sf_config.mql_when)
        for values in self.sf_config.stage_map.values():
            names |= set(values)
        return names

    def _change(self, lead: salesforce.LeadChange, names: Iterable[str]) -> crm.CrmChange:
        raw = {name: _text(lead.values.get(name)) for name in self.sf_config.field_map}
        fields = crm.lead_fields(raw, self.sf_config.field_map)
        email = fields.get("email")
        values = {name: _text(lead.values.get(name)) for name in names}
        base = self.client.settings.url
        return crm.CrmChange(
            system="salesforce",
            external_id=lead.id,
            email=email if isinstance(email, str) else None,
            modified_at=lead.modstamp,
            fields=fields,
            owner_external_id=lead.owner_user_id,
            status=lead.status,
            deleted=lead.deleted,
            values=values,
            qualifies=salesforce.matches_rule(lead.values, self.sf_config.mql_when),
            converted=lead.converted,
            opportunity_id=lead.converted_opportunity_id,
            by_integration=lead.by_integration_user,
            url=f"{base}/lightning/r/Lead/{lead.id}/view",
        )

    def pages(self, cursor: str | None) -> Iterator[tuple[list[crm.CrmChange], str]]:
        names = sorted(self._names())
        start = salesforce.ReadCursor.from_json(json.loads(cursor) if cursor else None)
        for page in self.client.read_changes(start):
            yield (
                [self._change(lead, names) for lead in page.changes],
                json.dumps(page.cursor.to_json(), separators=(",", ":")),
            )

    def gone(self, cursor: str | None) -> list[crm.CrmChange]:
        return []  # queryAll reads deleted Leads with the others (IsDeleted)

    def owners(self) -> list[Person]:
        return [Person(u.id, u.email) for u in self.client.users() if u.active]

    def send(
        self, kind: str, external_id: str, payload: Mapping[str, Any], key: str, at: datetime
    ) -> Sent:
        written: dict[str, Any] | None
        if kind == "stage":
            values = self.sf_config.stage_map.get(str(payload.get("stage")))
            if not values:
                return Sent("done", {}, note="the stage maps to no field")
            result = self.client.update_lead(external_id, values)
            written = dict(values)
        elif kind == "owner":
            owner = payload.get("crm_owner")
            if not owner:
                return Sent("skip", error="no Salesforce User to own the Lead")
            result = self.client.set_owner(external_id, str(owner))
            written = {"__owner__": owner}
        else:
            result = self.client.log_task(
                external_id,
                key=key,
                subject=str(payload.get("subject") or "leadbot"),
                description=str(payload.get("text") or ""),
                when=at.date(),
            )
            written = None
        if result.outcome == "done":
            note = f"Task {result.record_id}" if kind == "note" else None
            return Sent("done", written, note=note)
        if result.outcome == "converted":
            return Sent("skip", error="the Lead is converted; it is never written again")
        if result.outcome == "refused":
            return Sent("refused", error=result.message)
        return Sent("retry", error=result.message, retry_after=result.retry_after)

    def check(self, rep_emails: Mapping[str, str | None]) -> list[str]:
        return self.client.check(
            stages=self.sf_config.stage_map,
            mql_when=self.sf_config.mql_when,
            rep_emails={k: v for k, v in rep_emails.items() if v},
            owners=self.config.crm.owners,
        ) + [
            f"rep {user}: no e-mail visible in Slack (scope users:read.email)"
            for user, email in rep_emails.items()
            if not email and user not in self.config.crm.owners
        ]


# --- building one --------------------------------------------------------------------------------


def build_adapter(
    settings: Settings,
    config: WorkspaceConfig,
    *,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
    ca_bundle: str | None = None,
) -> CrmAdapter:
    """The adapter of ``[crm] system``; :class:`CrmSetupError` naming a missing setting."""
    system = config.crm.system
    if system == "hubspot":
        if not settings.hubspot_access_token:
            raise CrmSetupError(
                f"{hubspot.TOKEN_SETTING} is not set (the HubSpot private app's access token)"
            )
        options: dict[str, Any] = {}
        if sleep is not None:
            options["sleep"] = sleep
        return HubSpotAdapter(
            hubspot.HubSpotClient(
                settings.hubspot_access_token, settings.hubspot_api_url, **options
            ),
            config,
        )
    if system == "salesforce":
        try:
            sf_settings = salesforce.SalesforceSettings.from_env(env)
        except salesforce.SalesforceError as exc:
            raise CrmSetupError(exc.line) from None
        sf_options: dict[str, Any] = {"field_map": config.crm.salesforce.field_map}
        if sleep is not None:
            sf_options["sleep"] = sleep
        if ca_bundle is not None:
            sf_options["ca_bundle"] = ca_bundle
        return SalesforceAdapter(salesforce.SalesforceClient(sf_settings, **sf_options), config)
    raise CrmSetupError("no CRM is configured ([crm] system is not set in the workspace config)")


# --- owners both ways ----------------------------------------------------------------------------


@dataclass
class OwnerDirectory:
    """Slack users <-> CRM owners: ``[crm.owners]`` first, else by e-mail (the Slack user's
    e-mail from ``users.info``, the CRM owner's / active User's e-mail)."""

    people: list[Person]
    overrides: Mapping[str, str]
    slack_emails: Mapping[str, str | None]

    def to_crm(self, slack_user: str) -> str | None:
        if slack_user in self.overrides:
            return self.overrides[slack_user]
        email = (self.slack_emails.get(slack_user) or "").casefold()
        if not email:
            return None
        return next((p.id for p in self.people if p.email and p.email.casefold() == email), None)

    def to_slack(self) -> dict[str, str]:
        """CRM owner id -> Slack user, for every Slack user that matches one."""
        out: dict[str, str] = {}
        for user in [*self.slack_emails, *self.overrides]:
            owner = self.to_crm(user)
            if owner is not None:
                out.setdefault(owner, user)
        return out


def sales_people(config: WorkspaceConfig) -> list[str]:
    """Every Slack user who may own a lead: the teams' reps and managers."""
    users: list[str] = []
    for team in config.teams:
        users += [*team.reps, *team.managers]
    return list(dict.fromkeys(users))
