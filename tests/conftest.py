import pytest

pytest_plugins = ["tests.pg_fixtures"]


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the README demo and the example transcripts from real console runs",
    )


@pytest.fixture
def update_golden(request) -> bool:  # type: ignore[no-untyped-def]
    return bool(request.config.getoption("--update-golden"))
