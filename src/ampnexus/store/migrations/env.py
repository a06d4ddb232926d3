"""Alembic environment: migrations run on the connection AmpNexus hands over."""

from alembic import context
from sqlalchemy import create_engine

from ampnexus.store.tables import metadata

connection = context.config.attributes.get("connection")


def run(connection_) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection_,
        target_metadata=metadata,
        render_as_batch=connection_.dialect.name == "sqlite",  # SQLite alters by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:  # `alembic` run by hand for autogenerate: sqlalchemy.url from the ini or -x url=
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    with create_engine(url).begin() as own_connection:
        run(own_connection)
