"""learned scoring: each lead's profile at each scoring moment, and how a model version may be used

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The lead columns a snapshot keeps (core.services.snapshots.SNAPSHOT_FIELDS, as of this revision).
FIELDS = ("title", "company", "company_size", "industry", "country", "source", "campaign")


def upgrade() -> None:
    with op.batch_alter_table("scoring_models") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="unchecked")
        )
        batch.add_column(sa.Column("decision", sa.Text(), nullable=True))
    op.create_table(
        "lead_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_snapshots_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_snapshots")),
    )
    op.create_index(
        op.f("ix_lead_snapshots_lead_id_taken_at"), "lead_snapshots", ["lead_id", "taken_at"]
    )
    # Every existing lead's profile is known as it is now from its last update on (each profile
    # change bumps updated_at), and not before: one snapshot at updated_at says exactly that.
    leads = sa.table(
        "leads",
        sa.column("id", sa.Integer()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("properties", sa.JSON()),
        *(sa.column(name) for name in FIELDS),
    )
    snapshots = sa.table(
        "lead_snapshots",
        sa.column("lead_id", sa.Integer()),
        sa.column("taken_at", sa.DateTime(timezone=True)),
        sa.column("profile", sa.JSON()),
    )
    connection = op.get_bind()
    result = connection.execute(
        sa.select(leads.c.id, leads.c.updated_at, leads.c.properties, *(leads.c[f] for f in FIELDS))
    )
    while batch_rows := result.fetchmany(1000):
        connection.execute(
            snapshots.insert(),
            [
                {
                    "lead_id": row.id,
                    "taken_at": row.updated_at,
                    "profile": {
                        **{name: getattr(row, name) for name in FIELDS},
                        "properties": row.properties or {},
                    },
                }
                for row in batch_rows
            ],
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_lead_snapshots_lead_id_taken_at"), table_name="lead_snapshots")
    op.drop_table("lead_snapshots")
    with op.batch_alter_table("scoring_models") as batch:
        batch.drop_column("decision")
        batch.drop_column("status")
