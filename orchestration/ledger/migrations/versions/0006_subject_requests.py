"""subject requests, the steps of their erasures and their corrections (C5.2-6)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _requests()
    _erasure_steps()
    _corrections()


def _requests() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identifier_kind", sa.String(length=64), nullable=False),
        sa.Column("subject_digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("overdue_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_requests_subject_digest"), ["subject_digest"], unique=False
        )


def _erasure_steps() -> None:
    op.create_table(
        "subject_erasure_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=160), nullable=False),
        sa.Column("partition", sa.String(length=32), nullable=False),
        sa.Column("subject_rows", sa.Integer(), nullable=False),
        sa.Column("rewrite_version_id", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"]),
        sa.ForeignKeyConstraint(["rewrite_version_id"], ["dataset_versions.id"]),
        sa.ForeignKeyConstraint(["certificate_id"], ["purge_certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "dataset", "partition"),
    )
    with op.batch_alter_table("subject_erasure_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_erasure_steps_request_id"), ["request_id"], unique=False
        )


def _corrections() -> None:
    op.create_table(
        "subject_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=160), nullable=False),
        sa.Column("partition", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("replaced_version_id", sa.Integer(), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["subject_requests.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"]),
        sa.ForeignKeyConstraint(["replaced_version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subject_corrections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_corrections_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subject_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_corrections_request_id"))
    op.drop_table("subject_corrections")
    with op.batch_alter_table("subject_erasure_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_erasure_steps_request_id"))
    op.drop_table("subject_erasure_steps")
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_requests_subject_digest"))
    op.drop_table("subject_requests")
