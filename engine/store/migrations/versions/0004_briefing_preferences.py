"""briefing preferences: one row per operator (time, time zone, days, channels), read by the scheduler

Revision ID: 0004_briefing_preferences
Revises: 0003_node_pairing
Create Date: 2026-12-06 20:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_briefing_preferences"
down_revision = "0003_node_pairing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "briefing_preferences",
        sa.Column("operator_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("weekly_day", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"]),
        sa.PrimaryKeyConstraint("operator_id"),
    )
    # The memory kind nothing read ("brief me at 6:30" stored as a memory): its rows are dropped, the table
    # above is the one place a briefing time lives.
    op.execute("DELETE FROM memories WHERE kind IN ('briefing_time', 'briefing_schedule')")


def downgrade() -> None:
    op.drop_table("briefing_preferences")
