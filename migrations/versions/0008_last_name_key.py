"""lookup: a case-folded last-name key with its own index

``/lead lookup lovelace`` compared ``last_name`` case-insensitively, which no index serves: with
many leads every prefix lookup read the whole table. The key is filled here for existing leads.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.add_column(sa.Column("last_name_key", sa.String(length=200), nullable=True))
    leads = sa.table(
        "leads",
        sa.column("id", sa.BigInteger()),
        sa.column("last_name", sa.String()),
        sa.column("last_name_key", sa.String()),
    )
    connection = op.get_bind()
    after = 0
    while True:  # in Python, so the key is casefold() exactly as the application computes it
        batch = connection.execute(
            sa.select(leads.c.id, leads.c.last_name)
            .where(leads.c.id > after, leads.c.last_name.is_not(None))
            .order_by(leads.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            break
        connection.execute(
            leads.update()
            .where(leads.c.id == sa.bindparam("lead_id"))
            .values(last_name_key=sa.bindparam("key")),
            [{"lead_id": i, "key": (name or "").casefold()[:200] or None} for i, name in batch],
        )
        after = batch[-1][0]
    with op.batch_alter_table("leads") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_leads_last_name_key"),
            ["last_name_key"],
            unique=False,
            postgresql_ops={"last_name_key": "text_pattern_ops"},
        )


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_leads_last_name_key"),
            postgresql_ops={"last_name_key": "text_pattern_ops"},
        )
        batch_op.drop_column("last_name_key")
