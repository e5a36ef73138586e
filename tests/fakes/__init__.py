"""Test doubles: loopback fakes of the platforms' APIs (real HTTP on 127.0.0.1, every call recorded)
with the harnesses that serve darebot against them, and the engine's own harnesses (chat.py: /dare
lines and their replies; room.py: the same with a NudgeScheduler delivering to a recording messenger)."""
