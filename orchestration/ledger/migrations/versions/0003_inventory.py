"""refused deliveries and inventory reconciliation

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(length=160), nullable=False),
        sa.Column("partition", sa.String(length=32), nullable=False),
        sa.Column("file", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("purge_certificate_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["purge_certificate_id"], ["purge_certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("refused_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refused_deliveries_dataset"), ["dataset"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refused_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refused_deliveries_dataset"))
    op.drop_table("refused_deliveries")
