"""The throwaway PostgreSQL server of tests/pg.py, through the fixtures of tests/pg_fixtures.py."""

import uuid

import pytest
import sqlalchemy as sa


def _scalar(url: str, query: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_url_is_postgresql_15(pg_url):
    assert pg_url.startswith("postgresql+psycopg://")
    version = _scalar(pg_url, "select version()")
    assert version.startswith("PostgreSQL 15."), version
    assert int(_scalar(pg_url, "show server_version_num")) // 10000 == 15


@pytest.mark.postgres
def test_pg_url_databases_are_distinct(pg_server, pg_url):
    other = f"t_{uuid.uuid4().hex}"
    other_url = pg_server.create_database(other)
    try:
        assert other_url != pg_url
        assert _scalar(pg_url, "select current_database()") != _scalar(other_url, "select current_database()")
        engine = sa.create_engine(pg_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("create table marker (x int)"))
        finally:
            engine.dispose()
        assert _scalar(pg_url, "select to_regclass('public.marker') is not null") is True
        assert _scalar(other_url, "select to_regclass('public.marker') is null") is True
    finally:
        pg_server.drop_database(other)


def test_db_url_gives_an_empty_database(db_url, request):
    # The postgres case of db_url carries the `postgres` mark; the sqlite case does not.
    backend = request.node.callspec.params["db_url"]
    assert (request.node.get_closest_marker("postgres") is not None) == (backend == "postgres")
    engine = sa.create_engine(db_url)
    try:
        assert engine.dialect.name == ("postgresql" if backend == "postgres" else "sqlite")
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
