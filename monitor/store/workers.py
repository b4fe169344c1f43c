"""Who holds a claim (a feed being polled, an outbox row being sent), and whether it is gone.

A claim names its worker as host:pid:process-token:run-token. A claimer on this host whose
process no longer runs (killed, restarted) is gone at once; one on another host only by its lease.
"""

import os
import socket
import uuid

_PROCESS = uuid.uuid4().hex[:8]


def worker_id() -> str:
    """Host, process and a token unique to this run (one poll, one dispatch)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS}:{uuid.uuid4().hex[:8]}"


def is_gone(claimed_by: str | None) -> bool:
    """True when the claimer was a process on this host that no longer runs (killed, restarted)."""
    try:
        host, pid, process, _ = (claimed_by or "").split(":")
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return process != _PROCESS  # an earlier process that had our pid (containers: pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
