"""webhook endpoints remember whether a private address was allowed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 14:00:00.000000

``webhook add`` refuses private and loopback addresses unless ``--allow-private`` is given, and
each delivery checks the address again: the endpoint keeps the operator's answer. Endpoints
added before this revision were accepted with any address and keep working: they are marked
as allowed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(
            sa.Column("allow_private", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(sa.text("UPDATE webhook_endpoints SET allow_private = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("allow_private")
