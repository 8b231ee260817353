"""when each lead's next reminder is checked, and what those times were computed from

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00.000000

Every open lead starts at its stage entry time: "check at once", which holds under any config.
The next reminders run computes the precise time of each and stores it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = ("mql", "pql", "sal", "sql")


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_leads_next_reminder_at"), ["next_reminder_at"])
    leads = sa.table(
        "leads",
        sa.column("stage", sa.String()),
        sa.column("stage_changed_at", sa.DateTime(timezone=True)),
        sa.column("next_reminder_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        leads.update()
        .where(leads.c.stage.in_(OPEN))
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
