"""Alembic environment: migrations run on the engine the store hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from engine.store import _models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
config = context.config
engine = config.attributes.get("engine")

if engine is None:  # pragma: no cover - `alembic` CLI use
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///clawops.db")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
