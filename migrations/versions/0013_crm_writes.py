"""CRM writes on the one delivery protocol; what each lead's CRM record last said; the sync lease

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crm_writes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("lead_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_crm_writes_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_writes")),
        sa.UniqueConstraint("key", name=op.f("uq_crm_writes_key")),
    )
    op.create_index(
        op.f("ix_crm_writes_delivered_at_next_attempt_at"),
        "crm_writes",
        ["delivered_at", "next_attempt_at"],
    )
    op.create_index(op.f("ix_crm_writes_lead_id_id"), "crm_writes", ["lead_id", "id"])
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("crm_seen", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("crm_deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("crm_sync_state") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_sync_state") as batch:
        batch.drop_column("last_error")
        batch.drop_column("lease_until")
        batch.drop_column("lease_holder")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("crm_deleted_at")
        batch.drop_column("crm_seen")
    op.drop_index(op.f("ix_crm_writes_lead_id_id"), table_name="crm_writes")
    op.drop_index(op.f("ix_crm_writes_delivered_at_next_attempt_at"), table_name="crm_writes")
    op.drop_table("crm_writes")
