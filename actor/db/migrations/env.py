"""Alembic environment of :mod:`actor.db`; needs no ``alembic.ini``.

Online, it migrates ``config.attributes["connection"]`` when given (this is what
:meth:`actor.db.Database.upgrade` does), else a connection to ``sqlalchemy.url``. SQLite is
migrated in batch mode (table copies), because it cannot alter constraints in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from actor.db.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    run(given)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
