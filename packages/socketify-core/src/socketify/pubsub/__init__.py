"""Pub/sub beyond one process: the backend seam and its two backends.

``App(pubsub="redis://host:6379/0")`` (or a ``RedisBackend(...)`` for its options) carries
every ``publish`` to the other processes and machines on the same Redis; under the CLI's
``--workers N`` the supervisor's embedded relay (``RelayBackend``) does it with no external
service.  Local delivery is the core's, unchanged.  See backend.py for the guarantees.
"""

from __future__ import annotations

from typing import Any, Optional

from .backend import DEFAULT_MAX_BUFFER, Backend, PubSubStats
from .redis_backend import RedisBackend

__all__ = ["DEFAULT_MAX_BUFFER", "Backend", "PubSubStats", "RedisBackend", "resolve"]


def resolve(spec: Any) -> Optional[Backend]:
    """A backend from ``spec``: None, a Backend, or a Redis URL (redis://, rediss://,
    unix://)."""
    if spec is None or isinstance(spec, Backend):
        return spec
    if isinstance(spec, str):
        return RedisBackend(spec)
    raise TypeError(f"pubsub must be a URL (str), a socketify.pubsub.Backend or None, not {spec!r}")
