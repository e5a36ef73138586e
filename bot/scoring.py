"""The leaderboard formula: effort, never luck. Documented in README.md ("Scoring")."""

from __future__ import annotations

POINTS = {
    "interview": 10,  # a reverse interview that happened
    "decider_bonus": 5,  # ...with someone who can hire
    "first_attempt": 1,  # reaching out to someone new
    "follow_up": 2,  # a second or third attempt: the step people skip
    "later_attempt": 1,  # a fourth try and beyond
    "story": 5,  # a shared story (at most one per interview, or one with none)
    "recruiter_step": 1,  # each playbook step taken on a recruiter's call
}


def score(
    *,
    interviews: int,
    decider_interviews: int,
    first_attempts: int,
    follow_ups: int,
    later_attempts: int,
    stories: int,
    recruiter_steps: int,
) -> int:
    """Outcomes (offers, referrals) are shown but earn nothing: they depend on luck, not effort."""
    counted_stories = min(stories, max(1, interviews))
    return (
        POINTS["interview"] * interviews
        + POINTS["decider_bonus"] * decider_interviews
        + POINTS["first_attempt"] * first_attempts
        + POINTS["follow_up"] * follow_ups
        + POINTS["later_attempt"] * later_attempts
        + POINTS["story"] * counted_stories
        + POINTS["recruiter_step"] * recruiter_steps
    )
