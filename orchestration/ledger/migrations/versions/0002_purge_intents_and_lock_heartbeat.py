"""purge intents, the purging status and sweep-lock heartbeats

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purge_intents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=160), nullable=False),
        sa.Column("partition", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sweep_id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["purge_certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("purge_intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purge_intents_dataset"), ["dataset"], unique=False)
    with op.batch_alter_table("locks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("locks", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("token")
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
    with op.batch_alter_table("purge_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purge_intents_dataset"))
    op.drop_table("purge_intents")
