"""Logging set-up: DAREBOT_LOG_LEVEL, DAREBOT_LOG_FORMAT=text|json, and other libraries' chatter kept at WARNING."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Libraries that log routine events at INFO (Alembic's plugin lines, APScheduler's every run, bolt's
# start-up advice, aiohttp's access log): only their warnings and errors reach the operator.
QUIET_LOGGERS = ("alembic", "apscheduler", "slack_bolt", "slack_sdk", "discord", "aiohttp.access", "asyncio")

# Start-up notes that are expected in darebot's set-up and say nothing an operator can act on.
EXPECTED_NOTES = ("voice will NOT be supported", "As you gave `client` as well, `token` will be unused")
# Retry notes whose one line says it all: their tracebacks are dropped (the retry loop reports again).
ONE_LINE_RETRIES = ("Failed to connect (error:",)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, extras, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(note in message for note in EXPECTED_NOTES):
            return False
        if record.exc_info and message.startswith(ONE_LINE_RETRIES):
            record.exc_info, record.exc_text = None, None
        return True


def setup_logging(level: str = "INFO", fmt: str = "text", *, stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process (replacing any earlier handler)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_DropExpected())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # At DEBUG the libraries speak too; otherwise only their warnings and errors come through.
    quiet = logging.NOTSET if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
