"""Alembic environment: migrations run on the engine the caller passes in.

On PostgreSQL, once the migrations have run, the serving role named by the caller (or
``$TONGBAN_DB_SERVING_ROLE``) is granted what the hub needs and nothing more, in the same
transaction, every time: tables a later migration adds are covered the next time it runs
(``exchange.db.grant_serving_role``; ``docs/deployment-database.md``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from catalogue.models import Base
from exchange.db import grant_serving_role

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
    serving_role = config.attributes.get("serving_role")
    if serving_role and connection.dialect.name == "postgresql":
        grant_serving_role(connection, serving_role)
