"""pytest plugin: a throwaway PostgreSQL server and per-test databases.

Fixtures
- ``pg_server`` (session): one server per pytest-xdist worker (see ``tests/pg.py``).
- ``pg_url`` (function): a fresh, uniquely named database on it; dropped after the test.
- ``db_url`` (function, parametrized ``sqlite`` / ``postgres``): a SQLAlchemy URL for an empty
  database; the ``postgres`` case carries the ``postgres`` mark.

Without PostgreSQL binaries the postgres tests are skipped -- or fail when ``CI`` is set to any
non-empty value or ``DAREBOT_REQUIRE_PG=1``.  Under those variables a session in which any
``postgres`` test was skipped anyway (e.g. by an explicit ``pytest.skip``) exits non-zero.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.pg import PgServer, PostgresUnavailable, start_postgres

_skipped_pg_tests: list[str] = []


def pg_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("DAREBOT_REQUIRE_PG") == "1"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:  # decided outside the except block, so no chained traceback is printed
        if pg_required():
            pytest.fail(f"PostgreSQL is required here (CI / DAREBOT_REQUIRE_PG=1): {missing}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {missing}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'darebot.sqlite3'}"
    return request.getfixturevalue("pg_url")


# --- CI guard: no postgres test may be skipped --------------------------------------------


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under xdist this also runs in the controller for every report a worker sends back.
    if report.skipped and not hasattr(report, "wasxfail") and "postgres" in report.keywords:
        _skipped_pg_tests.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_xdist_worker(session.config) or not pg_required() or not _skipped_pg_tests:
        return
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _is_xdist_worker(config) or not pg_required() or not _skipped_pg_tests:
        return
    terminalreporter.section("postgres tests skipped under CI", sep="=", red=True, bold=True)
    terminalreporter.line(
        f"{len(_skipped_pg_tests)} test(s) marked `postgres` were skipped while CI / "
        "DAREBOT_REQUIRE_PG=1 is set; failing the session:",
        red=True,
    )
    for nodeid in sorted(set(_skipped_pg_tests)):
        terminalreporter.line(f"  {nodeid}")
