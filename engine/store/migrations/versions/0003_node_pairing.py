"""node pairing: paired clawnode devices (with their instance) and single-use bootstrap tokens

Revision ID: 0003_node_pairing
Revises: 0002_capabilities
Create Date: 2026-11-24 14:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_node_pairing"
down_revision = "0002_capabilities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_devices",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("approved_via", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("paired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("instance_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    with op.batch_alter_table("node_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_devices_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_node_devices_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "node_bootstrap_tokens",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("instance_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("node_bootstrap_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_bootstrap_tokens_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_bootstrap_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_bootstrap_tokens_instance_id"))
    op.drop_table("node_bootstrap_tokens")
    with op.batch_alter_table("node_devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_devices_instance_id"))
        batch_op.drop_index(batch_op.f("ix_node_devices_account_id"))
    op.drop_table("node_devices")
