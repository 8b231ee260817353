"""the CRM link of each lead and the state of the pull from the CRM

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("crm_system", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("crm_id", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            batch.f("uq_leads_crm_system_crm_id"), ["crm_system", "crm_id"]
        )
    op.create_table(
        "crm_sync_state",
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_duration", sa.Float(), nullable=True),
        sa.Column("last_seen", sa.Integer(), nullable=False),
        sa.Column("seen_total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("system", name=op.f("pk_crm_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("crm_sync_state")
    with op.batch_alter_table("leads") as batch:
        batch.drop_constraint(batch.f("uq_leads_crm_system_crm_id"), type_="unique")
        batch.drop_column("crm_id")
        batch.drop_column("crm_system")
