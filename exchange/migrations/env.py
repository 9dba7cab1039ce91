"""Alembic environment: migrations run on the engine the caller passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from catalogue.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through exchange.db.migrate() or `tongban db upgrade`")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
