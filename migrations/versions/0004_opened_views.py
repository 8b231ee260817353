"""views the bot opened, so a submission is acted on once

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "opened_views",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("view_id", sa.String(length=32), nullable=True),
        sa.Column("callback_id", sa.String(length=50), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_opened_views_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opened_views")),
        sa.UniqueConstraint("nonce", name=op.f("uq_opened_views_nonce")),
        sa.UniqueConstraint("view_id", name=op.f("uq_opened_views_view_id")),
    )
    with op.batch_alter_table("opened_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opened_views_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("opened_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opened_views_lead_id"))
    op.drop_table("opened_views")
