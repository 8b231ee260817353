"""one set of state names for every delivery queue

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 13:00:00.000000

The Slack outbox and the webhook deliveries follow one protocol (core/queue.py); their rows
now say the same thing by the same name: ``delivered_at`` when it went out, ``gave_up_at`` when
trying again cannot help.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_sent_at_next_attempt_at")
        batch.alter_column("sent_at", new_column_name="delivered_at")
    op.create_index(
        "ix_outbox_delivered_at_next_attempt_at", "outbox", ["delivered_at", "next_attempt_at"]
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("failed_at", new_column_name="gave_up_at")


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("gave_up_at", new_column_name="failed_at")
    op.drop_index("ix_outbox_delivered_at_next_attempt_at", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("delivered_at", new_column_name="sent_at")
    op.create_index("ix_outbox_sent_at_next_attempt_at", "outbox", ["sent_at", "next_attempt_at"])
