"""provision register (C5.2-12)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("package_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=160), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("contract_id", sa.String(length=120), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("provided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("signing_key_id", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("package_id"),
    )
    with op.batch_alter_table("provisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provisions_recipient"), ["recipient"], unique=False)
        batch_op.create_index(batch_op.f("ix_provisions_dataset"), ["dataset"], unique=False)
    op.create_table(
        "provision_versions",
        sa.Column("provision_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["provision_id"], ["provisions.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("provision_id", "version_id"),
    )
    with op.batch_alter_table("provision_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provision_versions_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("provision_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provision_versions_version_id"))
    op.drop_table("provision_versions")
    with op.batch_alter_table("provisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisions_dataset"))
        batch_op.drop_index(batch_op.f("ix_provisions_recipient"))
    op.drop_table("provisions")
