"""A throwaway PostgreSQL server for the test suite.

``start_postgres()`` runs ``initdb`` into a fresh directory under /tmp and starts the server
with ``pg_ctl``, listening only on a unix socket inside that directory (no TCP port, so any
number of servers -- one per pytest-xdist worker -- can run side by side).  Durability is
switched off for speed.  PostgreSQL refuses to run as root, so when we are root the server
binaries run as the ``postgres`` user through ``runuser``.

Binaries are found with ``pg_config --bindir``, then ``/usr/lib/postgresql/*/bin`` (newest
first); ``DAREBOT_PG_BINDIR`` overrides both.  Missing binaries raise ``PostgresUnavailable``;
whether that skips or fails a test is decided by ``tests/pg_fixtures.py``.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

__all__ = ["PgServer", "PostgresUnavailable", "find_bindir", "start_postgres"]

SUPERUSER = "postgres"
_RUN_AS = "postgres"  # OS user the server runs as when we are root
_NEEDED = ("initdb", "pg_ctl", "postgres")

# Appended to postgresql.conf.  The socket directory is added per server.
_SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'32MB'",
    "max_connections": "100",
    "unix_socket_permissions": "0700",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "'UTC'",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server binaries (or the user to run them as) are not on this machine."""


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/(\d+(?:\.\d+)*)/bin", path)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def _has_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(bindir, name), os.X_OK) for name in _NEEDED)


def find_bindir() -> Path:
    """Directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[str] = []
    override = os.environ.get("DAREBOT_PG_BINDIR")
    if override:
        if not _has_binaries(override):
            raise PostgresUnavailable(f"DAREBOT_PG_BINDIR={override!r} does not contain {', '.join(_NEEDED)}")
        return Path(override)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            # Debian's /usr/bin/pg_config (libpq-dev) reports the server's bindir even when
            # the server package is not installed, hence the check below.
            candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))
    for candidate in candidates:
        if _has_binaries(candidate):
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: tried "
        f"`pg_config --bindir` and /usr/lib/postgresql/*/bin ({', '.join(candidates) or 'none'}). "
        "Install them, e.g. `apt-get install postgresql-15`, or set DAREBOT_PG_BINDIR."
    )


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(cmd: list[str], *, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    if _as_root():
        cmd = ["runuser", "-u", _RUN_AS, "--", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class PgServer:
    bindir: Path
    basedir: Path
    datadir: Path
    socketdir: Path
    logfile: Path
    port: int = 5432
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) for database ``dbname`` on this server."""
        host = quote(str(self.socketdir), safe="/")
        return f"postgresql+psycopg://{SUPERUSER}@/{quote(dbname, safe='')}?host={host}&port={self.port}"

    def connect_kwargs(self, dbname: str = "postgres") -> dict[str, object]:
        """Keyword arguments for ``psycopg.connect``."""
        return {"host": str(self.socketdir), "port": self.port, "user": SUPERUSER, "dbname": dbname}

    def _admin(self, statement) -> None:
        import psycopg

        with psycopg.connect(**self.connect_kwargs("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy URL."""
        from psycopg import sql

        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, terminating any connection still open to it."""
        from psycopg import sql

        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Stop the server at once and delete its directories.  Safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            if (self.datadir / "postmaster.pid").exists():
                _run(
                    [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "immediate", "-w", "-s"],
                    cwd=self.basedir,
                    timeout=60,
                )
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)


def start_postgres() -> PgServer:
    """initdb + start a private server; the caller must ``stop()`` it (also done at exit)."""
    bindir = find_bindir()
    owner: tuple[int, int] | None = None
    if _as_root():
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root but `runuser` (util-linux) is missing")
        try:
            import pwd

            entry = pwd.getpwnam(_RUN_AS)
        except KeyError:
            raise PostgresUnavailable(
                f"PostgreSQL refuses to run as root and there is no {_RUN_AS!r} user to run it as"
            ) from None
        owner = (entry.pw_uid, entry.pw_gid)

    # Short path under /tmp: unix socket paths are limited to ~107 bytes, and when root the
    # postgres user must be able to traverse every parent (the /tmp of TMPDIR may not be).
    parent = "/tmp" if os.path.isdir("/tmp") else None
    basedir = Path(tempfile.mkdtemp(prefix="darebot-pg-", dir=parent))
    try:
        os.chmod(basedir, 0o755)
        datadir, socketdir, logfile = basedir / "data", basedir / "sock", basedir / "server.log"
        socketdir.mkdir(mode=0o700)
        logfile.touch(mode=0o600)
        if owner is not None:
            for path in (basedir, socketdir, logfile):
                os.chown(path, *owner)

        res = _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=basedir,
        )
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")

        settings = dict(_SETTINGS, unix_socket_directories=f"'{socketdir}'")
        with open(datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# darebot test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

        server = PgServer(bindir=bindir, basedir=basedir, datadir=datadir, socketdir=socketdir, logfile=logfile)
        res = _run(
            [str(bindir / "pg_ctl"), "start", "-D", str(datadir), "-l", str(logfile), "-w", "-t", "60", "-s"],
            cwd=basedir,
        )
        if res.returncode != 0:
            log = _tail(logfile)
            server.stop()
            raise RuntimeError(
                f"pg_ctl start failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}\nserver log:\n{log}"
            )
    except BaseException:
        shutil.rmtree(basedir, ignore_errors=True)
        raise
    atexit.register(server.stop)
    return server


if __name__ == "__main__":  # manual check: python -m tests.pg
    srv = start_postgres()
    try:
        import psycopg

        with psycopg.connect(**srv.connect_kwargs()) as c:
            print(c.execute("select version()").fetchone()[0])
        print(srv.url("postgres"))
    finally:
        srv.stop()
