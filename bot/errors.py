"""Errors the engine turns into a short private reply. Nothing is written when one is raised."""

from __future__ import annotations


class DareError(Exception):
    """A user-facing refusal: `str(err)` is the whole message."""


class UsageError(DareError):
    """Bad input. `field` names the offending form field, so modals can show the error inline."""

    def __init__(self, message: str, *, field: str | None = None, usage: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.usage = usage

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\nUsage: {self.usage}" if self.usage else base


class NotAllowed(DareError):
    """The person lacks the role the action needs."""


class NotFound(DareError):
    """A named cohort, contact or person does not exist in this workspace."""
