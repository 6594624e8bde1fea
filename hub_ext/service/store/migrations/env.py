"""Alembic environment: runs on the connection the service hands over."""

from __future__ import annotations

from alembic import context

from hub_ext.service.store.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("accelhub migrations run through hub_ext.service.store.repository.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
