"""Prometheus metrics: counters for what happened, and lead counts read from the database at
scrape time (so several processes never disagree about them)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database
from core.models import Lead, Outbox


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
            unsent = Outbox.sent_at.is_(None)
            waiting = session.scalar(
                select(func.count()).where(unsent, Outbox.gave_up_at.is_(None))
            )
            given_up = session.scalar(
                select(func.count()).where(unsent, Outbox.gave_up_at.is_not(None))
            )
        return counts, int(waiting or 0), int(given_up or 0)


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
        self.registry.register(LeadCounts(db))
