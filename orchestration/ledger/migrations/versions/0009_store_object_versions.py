"""the S3 VersionId of each version's store object, so that a sweep deletes what the ledger
recorded by its id and lists only to verify (C5.2-11, issue 13)

Versions written before this revision, and every version on a folder store, keep NULL: the
sweep finds their objects by listing, as before.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_version_id", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("object_version_id")
