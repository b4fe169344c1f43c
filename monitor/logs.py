"""Logging set-up: one line per event, and a filter that scrubs channel secrets from every record."""

import logging
import re
import sys


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by ***, whatever its case (hosts are lower-cased)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = redact(record.getMessage(), self.secrets), None
        return True


def _not_apprise_chatter(record: logging.LogRecord) -> bool:
    """apprise logs payloads and URLs below WARNING; the monitor logs the outcome itself."""
    return not record.name.startswith("apprise") or record.levelno >= logging.WARNING


def setup_logging(secrets: list[str], level: int = logging.INFO) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_monitor", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._monitor = True
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    handler.addFilter(_not_apprise_chatter)
    handler.addFilter(RedactSecrets(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_secrets(secrets: list[str]) -> None:
    """Scrub these secrets too (a reloaded watchlist may bring new ones); no-op before setup."""
    for handler in logging.getLogger().handlers:
        for log_filter in handler.filters if getattr(handler, "_monitor", False) else ():
            if isinstance(log_filter, RedactSecrets):
                known = set(log_filter.secrets) | {s for s in secrets if s}
                log_filter.secrets = sorted(known, key=len, reverse=True)
