"""access: decisions waiting for a second approver, and the database's session user on every
audit entry (C5.4-1, C5.5-4)

On PostgreSQL a trigger sets ``audit_log.db_user`` to ``session_user`` on every insert, so the
name an entry carries is the one the database authenticated, whatever the writer supplied.
SQLite has no session user: entries there say "unauthenticated demo mode".

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION steward_audit_session_user() RETURNS trigger AS $$
BEGIN
    NEW.db_user := session_user;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
_TRIGGER = """
CREATE TRIGGER audit_log_session_user BEFORE INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION steward_audit_session_user()
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("db_user", sa.String(length=160), nullable=True))
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.String(length=160), nullable=False),
        sa.Column("partition", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=160), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=160), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)
        op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_session_user ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS steward_audit_session_user()")
    op.drop_table("approval_requests")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("db_user")
