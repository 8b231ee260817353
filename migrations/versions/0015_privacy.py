"""personal data: tombstones, folded events, every Slack message about a lead, the erasure
audit, suppressions and the install's secrets

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for name, kind in (
        ("erased_at", sa.DateTime(timezone=True)),
        ("folded_at", sa.DateTime(timezone=True)),
        ("folded_engagement", sa.Float()),
        ("folded_product", sa.Float()),
    ):
        op.add_column("leads", sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("slack_messages") as batch:
        batch.alter_column("transition_id", existing_type=Id, nullable=True)
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))
    op.create_table(
        "privacy_audit",
        sa.Column("id", Id, nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_audit")),
    )
    op.create_index(op.f("ix_privacy_audit_at"), "privacy_audit", ["at"])
    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "install_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_install_secrets")),
    )


def downgrade() -> None:
    op.drop_table("install_secrets")
    op.drop_table("suppressions")
    op.drop_index(op.f("ix_privacy_audit_at"), table_name="privacy_audit")
    op.drop_table("privacy_audit")
    op.execute("DELETE FROM slack_messages WHERE transition_id IS NULL")
    with op.batch_alter_table("slack_messages") as batch:
        batch.drop_column("text")
        batch.alter_column("transition_id", existing_type=Id, nullable=False)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): a batch would copy the leads
    # table and drop the old one, and with foreign keys on that drop cascades to every child row.
    for column in ("folded_product", "folded_engagement", "folded_at", "erased_at"):
        op.drop_column("leads", column)
