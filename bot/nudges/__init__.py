"""Nudges: scheduled DMs that move a stalled cohort.

- `policy`   the coach's defaults (spacing, caps, quiet hours) and local-time helpers
- `rules`    when to nudge: plain functions of a person's state and the time
- `planner`  the sweep: database state -> outbox rows (unique key person:rule:subject:period)
- `messages` what each nudge says
- `delivery` claims due rows, re-checks them, honours limits, sends through the Messenger port
- `marks`    change marks: a change to a person's state makes them due for the next sweep
"""

from bot.nudges import marks
from bot.nudges.policy import DEFAULT_POLICY, Policy

marks.install()

__all__ = ["DEFAULT_POLICY", "Policy"]
