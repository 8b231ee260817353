"""routing: rotation state, offers, away periods, owner history

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def _lead_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["lead_id"], ["leads.id"], name=op.f(f"fk_{table}_lead_id_leads"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "rotations",
        sa.Column("team", sa.String(length=50), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("picks", sa.Integer(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("team", name=op.f("pk_rotations")),
    )
    op.create_table(
        "offers",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("transition_id", BIG_ID, nullable=False),
        sa.Column("team", sa.String(length=50), nullable=False),
        sa.Column("rep", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("offered_at", WHEN, nullable=False),
        sa.Column("until", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        _lead_fk("offers"),
        sa.ForeignKeyConstraint(
            ["transition_id"],
            ["stage_transitions.id"],
            name=op.f("fk_offers_transition_id_stage_transitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("transition_id", name=op.f("uq_offers_transition_id")),
    )
    op.create_index(op.f("ix_offers_lead_id"), "offers", ["lead_id"])
    op.create_index(op.f("ix_offers_closed_at_until"), "offers", ["closed_at", "until"])
    op.create_index(op.f("ix_offers_rep_offered_at"), "offers", ["rep", "offered_at"])
    op.create_table(
        "away_periods",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("until", WHEN, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_away_periods")),
    )
    op.create_index(op.f("ix_away_periods_user_ended_at"), "away_periods", ["user", "ended_at"])
    op.create_table(
        "owner_changes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("from_owner", sa.String(length=32), nullable=True),
        sa.Column("to_owner", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        _lead_fk("owner_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_changes")),
    )
    op.create_index(op.f("ix_owner_changes_lead_id_at"), "owner_changes", ["lead_id", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_owner_changes_lead_id_at"), table_name="owner_changes")
    op.drop_table("owner_changes")
    op.drop_index(op.f("ix_away_periods_user_ended_at"), table_name="away_periods")
    op.drop_table("away_periods")
    op.drop_index(op.f("ix_offers_rep_offered_at"), table_name="offers")
    op.drop_index(op.f("ix_offers_closed_at_until"), table_name="offers")
    op.drop_index(op.f("ix_offers_lead_id"), table_name="offers")
    op.drop_table("offers")
    op.drop_table("rotations")
