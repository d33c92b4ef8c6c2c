"""audit chains per dataset: one head row per chain, so appends about different datasets do
not wait for each other (C5.4-1, issue 16)

The log kept so far becomes the ``district`` chain as it is: each entry's place in it
(``chain_seq``) is its old ``seq``, which its hash already covers, and its head row becomes the
district chain's head. Nothing is re-hashed or re-keyed, so every existing MAC and the head's
seal still verify, and anchors taken before still match. From here on ``seq`` is only the row's
number, given by the database (a sequence on PostgreSQL, the rowid on SQLite); the session user
trigger of revision 0007 is untouched.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DISTRICT = "district"


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chain", sa.String(length=160), nullable=False, server_default=DISTRICT)
        )
        batch_op.add_column(sa.Column("chain_seq", sa.Integer(), nullable=True))
    op.execute("UPDATE audit_log SET chain_seq = seq")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("chain_seq", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_audit_log_chain_seq", ["chain", "chain_seq"])
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chain", sa.String(length=160), nullable=False, server_default=DISTRICT)
        )
        batch_op.create_unique_constraint("uq_audit_head_chain", ["chain"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_log_seq_seq OWNED BY audit_log.seq")
        op.execute(
            "SELECT setval('audit_log_seq_seq', COALESCE(MAX(seq), 0) + 1, false) FROM audit_log"
        )
        op.execute(
            "ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_seq_seq')"
        )
        # the head's id was always written as 1: move its serial past it
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_head', 'id'), COALESCE(MAX(id), 0) + 1, "
            "false) FROM audit_head"
        )


def downgrade() -> None:
    """Only a log that is still one chain can go back to the single-chain layout."""
    bind = op.get_bind()
    others = bind.execute(
        sa.text("SELECT COUNT(*) FROM audit_log WHERE chain <> :d"), {"d": DISTRICT}
    ).scalar_one()
    if others:
        raise RuntimeError(
            f"{others} audit entries are in dataset chains: revision 0007 has one chain only"
        )
    # revision 0007 numbers the chain by seq: give every row its place in the chain back
    op.execute("UPDATE audit_log SET seq = -chain_seq")
    op.execute("UPDATE audit_log SET seq = -seq")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log ALTER COLUMN seq DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS audit_log_seq_seq")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_head_chain", type_="unique")
        batch_op.drop_column("chain")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_log_chain_seq", type_="unique")
        batch_op.drop_column("chain_seq")
        batch_op.drop_column("chain")
