"""when each lead's next reminder is checked, and what those times were computed from

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00.000000

Every open lead starts at its stage entry time: "check at once", which holds under any config;
the next reminders run computes the precise time of each and stores it. A stage entry that had
every level of its stage sent and has no snooze can have nothing more due: it starts empty, so
that first run does not read, and lock, every lead that was reminded of everything already.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The levels of each open stage, as they are at this revision.
LEVELS = {
    "mql": ("mql_accept", "mql_escalate"),
    "pql": ("mql_accept", "mql_escalate"),
    "sal": ("sal_qualify",),
    "sql": ("sql_opportunity",),
}


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_leads_next_reminder_at"), ["next_reminder_at"])
    leads = sa.table(
        "leads",
        sa.column("id", sa.BigInteger()),
        sa.column("stage", sa.String()),
        sa.column("stage_changed_at", sa.DateTime(timezone=True)),
        sa.column("next_reminder_at", sa.DateTime(timezone=True)),
    )
    entries = sa.table(
        "stage_transitions",
        sa.column("id", sa.BigInteger()),
        sa.column("lead_id", sa.BigInteger()),
        sa.column("to_stage", sa.String()),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    sent = sa.table("sent_reminders", sa.column("transition_id"), sa.column("level"))
    snoozes = sa.table("reminder_snoozes", sa.column("transition_id"))
    entry = (
        sa.select(entries.c.id)
        .where(
            entries.c.lead_id == leads.c.id,
            entries.c.at == leads.c.stage_changed_at,
            entries.c.to_stage == leads.c.stage,
        )
        .order_by(entries.c.id.desc())
        .limit(1)
        .correlate(leads)
        .scalar_subquery()
    )
    for stage, levels in LEVELS.items():
        reminded = sa.and_(
            *[
                sa.exists().where(sent.c.transition_id == entry, sent.c.level == level)
                for level in levels
            ],
            ~sa.exists().where(snoozes.c.transition_id == entry),
        )
        op.execute(
            leads.update()
            .where(leads.c.stage == stage, ~reminded)
            .values(next_reminder_at=leads.c.stage_changed_at)
        )
    op.create_table(
        "reminder_basis",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_basis")),
    )


def downgrade() -> None:
    op.drop_table("reminder_basis")
    with op.batch_alter_table("leads") as batch:
        batch.drop_index(batch.f("ix_leads_next_reminder_at"))
        batch.drop_column("next_reminder_at")
