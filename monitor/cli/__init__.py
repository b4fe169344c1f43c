"""The `monitor` command line. Every user-fixable error is one line on stderr and exit code 2.

Commands live by group (operate: check, run, poll, notify-test, demo; inspect: feeds, matches,
incidents, outbox; profiles: score, eval, replay, backtest, profile; manage: init, prune, feeds
import/export); importing a group registers
its commands on `app`, in this order in `monitor --help`.
"""
# isort: skip_file

from .app import app
from . import operate  # noqa: F401
from . import inspect  # noqa: F401
from . import profiles  # noqa: F401
from . import web  # noqa: F401
from . import manage  # noqa: F401

__all__ = ["app"]
