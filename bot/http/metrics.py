"""Prometheus metrics: counters for what happened, and lead counts read from the database at
scrape time (so several processes never disagree about them)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database
from core.models import Lead, Outbox, WebhookDelivery, WebhookEndpoint


class LeadCounts(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("leadbot_database_up", "1 when the database answered this scrape")
        try:
            rows, waiting, given_up = self._count()
        except SQLAlchemyError:  # /healthz reports the outage; the scrape itself still works
            up.add_metric([], 0)
            yield up
            return
        leads = GaugeMetricFamily(
            "leadbot_leads",
            "Leads by stage and team (team 'none': unrouted)",
            labels=["stage", "team"],
        )
        for stage, team, count in rows:
            leads.add_metric([stage, team or "none"], count)
        pending = GaugeMetricFamily("leadbot_outbox_pending", "Slack notifications not yet sent")
        pending.add_metric([], waiting)
        failed = GaugeMetricFamily(
            "leadbot_outbox_given_up", "Slack notifications Slack refused for good (see last_error)"
        )
        failed.add_metric([], given_up)
        up.add_metric([], 1)
        yield leads
        yield pending
        yield failed
        yield up

    def _count(self) -> tuple[list[tuple[str, str | None, int]], int, int]:
        with self.db.transaction() as session:
            rows = session.execute(
                select(Lead.stage, Lead.team, func.count()).group_by(Lead.stage, Lead.team)
            )
            counts = [(stage, team, int(count)) for stage, team, count in rows]
            unsent = Outbox.delivered_at.is_(None)
            waiting = session.scalar(
                select(func.count()).where(unsent, Outbox.gave_up_at.is_(None))
            )
            given_up = session.scalar(
                select(func.count()).where(unsent, Outbox.gave_up_at.is_not(None))
            )
        return counts, int(waiting or 0), int(given_up or 0)


class WebhookCounts(Collector):
    """Deliveries by state and endpoints by state, from the database (every process agrees)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            deliveries, endpoints = self._count()
        except SQLAlchemyError:  # leadbot_database_up says so
            return
        by_state = GaugeMetricFamily(
            "leadbot_webhook_deliveries",
            "Webhook deliveries (one per event and endpoint) by state: delivered, pending "
            "(not tried yet), retrying (the last attempt failed), given_up (failed for 3 days)",
            labels=["state"],
        )
        for state in ("delivered", "pending", "retrying", "given_up"):
            by_state.add_metric([state], deliveries.get(state, 0))
        hooks = GaugeMetricFamily(
            "leadbot_webhook_endpoints", "Webhook endpoints by state", labels=["state"]
        )
        for state in ("enabled", "disabled"):
            hooks.add_metric([state], endpoints.get(state, 0))
        yield by_state
        yield hooks

    def _count(self) -> tuple[dict[str, int], dict[str, int]]:
        d = WebhookDelivery
        state = case(
            (d.delivered_at.is_not(None), "delivered"),
            (d.gave_up_at.is_not(None), "given_up"),
            (d.last_error.is_not(None), "retrying"),
            else_="pending",
        )
        enabled = case((WebhookEndpoint.disabled_at.is_(None), "enabled"), else_="disabled")
        with self.db.transaction() as session:
            deliveries = {
                str(k): int(n)
                for k, n in session.execute(select(state, func.count()).group_by(state))
            }
            endpoints = {
                str(k): int(n)
                for k, n in session.execute(select(enabled, func.count()).group_by(enabled))
            }
        return deliveries, endpoints


class Metrics:
    """One registry per app, so tests can build many apps in one process."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leadbot_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadbot_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
        )
        self.leads_upserted = Counter(
            "leadbot_leads_upserted",
            "Leads written through the API",
            ["outcome"],
            registry=self.registry,
        )
        self.events = Counter(
            "leadbot_events", "Events received", ["result"], registry=self.registry
        )
        self.qualified = Counter(
            "leadbot_leads_qualified",
            "Leads that became MQL or PQL",
            ["stage", "team"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "leadbot_delivery_attempts",
            "Delivery attempts made by this process, by queue (slack, webhooks) and result"
            " (delivered, failed, given_up)",
            ["queue", "result"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "leadbot_webhook_attempts",
            "Webhook delivery attempts made by this process, by result (delivered, failed)",
            ["result"],
            registry=self.registry,
        )
        self.registry.register(LeadCounts(db))
        self.registry.register(WebhookCounts(db))

    def attempted(self, queue: str, result: str) -> None:
        self.deliveries.labels(queue, result).inc()
        if queue == "webhooks":
            self.webhook_attempts.labels(result).inc()
