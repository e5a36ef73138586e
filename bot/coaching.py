"""The coach's substance: guidance and the recruiter-call playbook, in darebot's own words."""

from __future__ import annotations

BASELINE = 0.05  # about 1 in 20 people told of the reverse interview ever try one
PERSISTENCE_ATTEMPTS = 3  # many busy people answer only on the third try

DARE_PITCH = ("Talk to someone who is where you'd love to be in a few years. Not a job interview: "
              "you ask the questions, they tell their story. Fifteen minutes is plenty.")

DECIDER_TIP = ("Tip: aim for people who can decide: the one who can hire, not just anyone in the building. "
               "Mark them with --decides.")

PERSISTENCE_TIP = ("No answer is normal. Busy people often reply only to the second or third message, "
                   "so follow up a few days apart before you move on.")

MOVE_ON_TIP = ("Three tries without an answer: time to line up someone else, ideally someone who can hire. "
               "You can still go back to this one later.")

DECLINED_TIP = "A no is information, not a verdict. Thank them, and pick the next name on your list."

RECRUITER_STEPS: tuple[tuple[str, str], ...] = (
    ("qualify", "Qualify it: ask why the role is open and why they think you fit, before you decide anything."),
    ("answer", "Give a straight answer: yes, no, or 'not this, but...' so nobody's time is wasted."),
    ("connect", "Keep the connection: ask to stay in touch, e.g. on LinkedIn. Recruiters know everybody."),
    ("help", "Offer help: if it isn't for you, maybe it's for someone you know."),
)

NO_IS_NOT_FOREVER = ("A no today isn't a no forever: a recruiter you treated well may call again with the role "
                     "you do want.")


def recruiter_steps_done(asked: tuple[str, ...] | list[str], answer: str | None, connected: bool,
                         referred: bool) -> dict[str, bool]:
    """Which of the four playbook steps a recorded call covered."""
    return {"qualify": bool(asked), "answer": answer in ("yes", "no"), "connect": connected, "help": referred}
