"""Loopback fakes of the platforms' APIs: real HTTP on 127.0.0.1, every call recorded."""
