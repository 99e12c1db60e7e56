"""Who made an edit: the ``actor`` every recorded edit names (``zenjobs status JOB``).

The CLI resolves it as ``--actor``, else ``$ZENJOBS_ACTOR``, else
:func:`default_actor` (the OS user ``@`` the host name); library callers pass
``actor=`` or get the same default. It is checked here, before any write, with
the rule the stores enforce (:func:`~zenjobs.stores.records.actor_problem`:
1 to 128 printable characters), so a bad one is refused with a message naming the
setting instead of a ``ValueError`` from the store.
"""

from __future__ import annotations

import getpass
import os
import socket

from ..errors import ConfigurationError
from ..stores.records import ACTOR_MAX_LENGTH, actor_problem

#: The environment variable the CLI reads when ``--actor`` is not given.
ACTOR_ENV = "ZENJOBS_ACTOR"


def default_actor() -> str:
    """``user@host`` of this process, reduced to what an actor may hold.

    A container without a passwd entry has no user name: the numeric uid stands in.
    """
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    try:
        host = socket.gethostname()
    except OSError:
        host = ""
    text = f"{user}@{host}" if host else user
    cleaned = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    return cleaned[:ACTOR_MAX_LENGTH] or "unknown"


def resolve_actor(actor: str | None) -> str:
    """``actor`` if it is a valid one, :func:`default_actor` for None; else ConfigurationError."""
    if actor is None:
        return default_actor()
    problem = actor_problem(actor)
    if problem:
        raise ConfigurationError(f"actor (--actor or ${ACTOR_ENV}) {problem}")
    return actor
