"""The image, compose file and lock as an operator gets them. Docker itself cannot run in the suite, so the
install the image makes (the lock, then darebot without dependencies) is rebuilt here and started as a
non-root user from a read-only installation, with only a data folder writable."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from adapters.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def lock_pins(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(;\s*(.*?))?\s*\\?$", line)
        if m and (
            not m.group(4)
            or "python_full_version < '3.12'" in m.group(4)
            or ("implementation" in m.group(4) and "PyPy" in m.group(4) and "!=" in m.group(4))
        ):
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_the_installed_environment_is_the_lock() -> None:
    """make venv installs requirements-dev.lock: every pin is what is installed, and the runtime lock is a subset."""
    dev, runtime = lock_pins("requirements-dev.lock"), lock_pins("requirements.lock")
    assert runtime and set(runtime) <= set(dev)
    for name in (
        "sqlalchemy",
        "pydantic",
        "yarl",
        "sqlmodel",
        "jinja2",
        "prometheus-client",
        "cachetools",
        "pyyaml",
        "playwright",
    ):
        assert name in runtime, name
    for name in ("ruff", "mypy", "pyinstrument", "types-pyyaml", "pytest"):
        assert name in dev and name not in runtime, name
    assert "rich" not in re.findall(r'"([a-z-]+)', (ROOT / "pyproject.toml").read_text().split("[project.optional")[0])
    mismatched = {n: (v, version(n)) for n, v in dev.items() if version(n) != v}
    assert not mismatched, f"run `make venv` after `make lock`: {mismatched}"


def test_the_image_runs_as_a_user_with_state_in_data_a_healthcheck_and_an_init() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in text and "pip install --no-deps ." in text
    assert re.search(r"^USER darebot$", text, re.M) and re.search(r"^WORKDIR /data$", text, re.M)
    assert "DAREBOT_STATE_DIR=/data" in text and "sqlite:////data/" in text
    assert re.search(r"^HEALTHCHECK .*\n.*127\.0\.0\.1:8080/healthz", text, re.M)
    assert re.search(r"^EXPOSE 3000 8080$", text, re.M)
    assert 'ENTRYPOINT ["tini", "--", "darebot"]' in text and '"--health-port", "8080"' in text
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1:2] == ["*"] or "*" in ignored  # everything out, then only what the build copies
    for copied in re.findall(r"^COPY (\S+)", text, re.M):
        assert f"!{copied.rstrip('/')}" in ignored or f"!{copied.rstrip('/')}/" in ignored, copied


def test_compose_waits_for_tcp_uses_its_own_role_and_forwards_every_setting() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    db, app = compose["services"]["db"], compose["services"]["darebot"]
    assert "pg_isready -h 127.0.0.1" in " ".join(db["healthcheck"]["test"])
    url = app["environment"]["DAREBOT_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://darebot:") and "postgres:" not in url
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert ":?" in db["environment"]["POSTGRES_PASSWORD"]  # no default password
    settings_env = {f.alias for f in Settings.model_fields.values()} - {"DAREBOT_STATE_DIR"}
    assert settings_env <= set(app["environment"]), settings_env - set(app["environment"])
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"`((?:DAREBOT|SLACK|DISCORD)_[A-Z_]+)`", readme)) - {"DAREBOT_STATE_DIR"}
    assert documented <= set(app["environment"]), documented - set(app["environment"])


@pytest.mark.postgres
def test_the_init_script_makes_a_role_that_can_migrate_but_is_no_superuser(pg_server, tmp_path: Path) -> None:
    """deploy/postgres-init/10-darebot-role.sh, run as the postgres image runs it, against a fresh database."""
    import psycopg

    from storage.db import connect_and_upgrade

    name = f"init_{os.getpid()}_{tmp_path.name[-8:]}".lower().replace("-", "_")
    admin = pg_server.connect_kwargs()
    pg_server.create_database(name)
    psql = shutil.which("psql") or next(Path("/usr/lib/postgresql").glob("*/bin/psql"), None)
    if psql is None:
        pytest.skip("psql not found")
    env = {
        **os.environ,
        "POSTGRES_USER": str(admin.get("user", "postgres")),
        "POSTGRES_DB": name,
        "DAREBOT_DB_PASSWORD": "s3cret-pw",
        "PGHOST": str(admin["host"]),
        "PGPORT": str(admin["port"]),
        "PATH": f"{Path(psql).parent}:{os.environ['PATH']}",
    }
    try:
        done = subprocess.run(
            ["bash", str(ROOT / "deploy/postgres-init/10-darebot-role.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        url = f"postgresql+psycopg://darebot:s3cret-pw@/{name}?host={admin['host']}&port={admin['port']}"
        connect_and_upgrade(url).dispose()
        with psycopg.connect(
            host=admin["host"], port=admin["port"], user="darebot", password="s3cret-pw", dbname=name
        ) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
            assert conn.execute("SELECT count(*) FROM nudge").fetchone() == (0,)
    finally:
        pg_server.drop_database(name)
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute("DROP ROLE IF EXISTS darebot")


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder another user can enter (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="darebot-smoke-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_the_image_install_runs_read_only_as_a_non_root_user(shared_tmp: Path) -> None:
    """The Dockerfile's steps, without Docker: the lock's packages (those of .venv, checked above to be the lock's),
    darebot built as a wheel and installed without dependencies into a fresh venv, everything then made read-only;
    `darebot --version` and a console script run from a writable data folder as user nobody when we are root."""
    src, wheels, venv, data = (shared_tmp / d for d in ("src", "wheels", "venv", "data"))
    src.mkdir()
    for item in ("pyproject.toml", "README.md", "LICENSE", "alembic.ini", "bot", "storage", "adapters"):
        if (ROOT / item).is_dir():
            shutil.copytree(ROOT / item, src / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / item, src / item)
    run = {"capture_output": True, "text": True, "timeout": 180}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)], **run
    )  # type: ignore[call-overload]
    assert built.returncode == 0, built.stderr
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # The dependencies: the lock-installed environment, reached through a path file (its own .pth files
    # such as the editable darebot are not processed from there).
    lock_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "zz_lock_deps.pth").write_text(lock_site + "\n")
    wheel = next(wheels.glob("darebot-*.whl"))
    inst = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        **run,
    )  # type: ignore[call-overload]
    assert inst.returncode == 0, inst.stderr
    shutil.rmtree(src)
    subprocess.run(["chmod", "-R", "a-w", str(venv)], check=True)
    data.mkdir()
    data.chmod(0o777)
    demote = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(data),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": str(data / ".mpl"),
        "DAREBOT_DATABASE_URL": f"sqlite:///{data}/darebot.sqlite3",
        "DAREBOT_STATE_DIR": str(data),
    }
    where = subprocess.run(
        [*demote, str(venv / "bin" / "python"), "-c", "import adapters, storage.migrations; print(adapters.__file__)"],
        cwd=data,
        env=env,
        **run,
    )  # type: ignore[call-overload]
    assert where.returncode == 0 and where.stdout.startswith(str(venv)), where.stdout + where.stderr
    ver = subprocess.run([*demote, str(venv / "bin" / "darebot"), "--version"], cwd=data, env=env, **run)  # type: ignore[call-overload]
    assert ver.returncode == 0 and ver.stdout.strip() == f"darebot {version('darebot')}", ver.stderr
    script = "@prof /dare cohort create Lab\n@ann /dare cohort join Lab\n@prof /dare start Lab\n@prof /dare board Lab\n"
    console = subprocess.run(
        [
            *demote,
            str(venv / "bin" / "darebot"),
            "run",
            "--platform",
            "console",
            "--start",
            "2026-09-07T13:00:00+00:00",
        ],
        input=script,
        cwd=data,
        env=env,
        **run,
    )  # type: ignore[call-overload]
    assert console.returncode == 0, console.stderr
    assert "Cohort created" in console.stdout and "Lab leaderboard" in console.stdout and "DM to @ann" in console.stdout
    assert (data / "darebot.sqlite3").exists()
