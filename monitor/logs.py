"""Logging set-up: one line per event, and the redaction of secrets.

A secret (a value substituted for ${VAR} in a channel URL, or the URL's password) can reach a text
whole or in pieces: apprise splits a URL at the @ / : of a password and names the part after it
("sending to zSECRET"), or prints it percent-encoded. `redact` masks every run of 4 or more
characters of a secret, of its pieces between URL separators and of their percent-encoded forms.
Errors from a channel are redacted whole. The log filter redacts only where a secret can be: inside
URLs and in `channel 'NAME': ...` errors, so a password that is also a word of the news
(`attack`) is not blanked in every alert title logged.
"""

import logging
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus, urlsplit

FRAGMENT = 4  # characters: a shorter run of a secret is not masked (it would blank ordinary text)
MASK = "***"
_SEPARATORS = re.compile(r"[@/:#&%?=]")
_URL = r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+"
_SENSITIVE = re.compile(rf"(channel '[^'\n]*': )([^\n]*)|{_URL}")
_SECRET_PARAMETER = re.compile(r"token|secret|passw|pwd|key$|^(pass|pw|sig|signature|auth)$", re.IGNORECASE)
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/?#]*):(?P<password>[^/?#]*)@")


def _fragments(secret: str) -> set[str]:
    """The runs of FRAGMENT characters to mask for one secret (a shorter secret: itself)."""
    if len(secret) < FRAGMENT:
        return {secret}
    forms = {secret, *_SEPARATORS.split(secret)}
    forms |= {encode(form) for form in set(forms) for encode in (_quote_all, quote, quote_plus)}
    return {form[i:i + FRAGMENT] for form in forms for i in range(len(form) - FRAGMENT + 1)}


def _quote_all(text: str) -> str:
    return quote(text, safe="")


@lru_cache(maxsize=64)
def _lowered_fragments(secrets: frozenset[str]) -> frozenset[str]:
    return frozenset(fragment.lower() for secret in secrets for fragment in _fragments(secret))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every run of a secret's fragments (see `_fragments`), in any case, replaced by ***."""
    fragments = _lowered_fragments(frozenset(s for s in secrets if s))
    parts, kept_from = [], 0
    for start, end in _covered_runs(fragments, text):
        parts += [text[kept_from:start], MASK]
        kept_from = end
    return "".join(parts) + text[kept_from:]


def _covered_runs(fragments: frozenset[str], text: str) -> list[list[int]]:
    """The [start, end) runs of `text` covered by fragments, overlapping or touching ones merged."""
    sizes = {len(fragment) for fragment in fragments}
    runs: list[list[int]] = []
    for start in range(len(text)):
        ends = [start + size for size in sizes if text[start:start + size].lower() in fragments]
        if not ends:
            continue
        if runs and start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], *ends)
        else:
            runs.append([start, max(ends)])
    return runs


def public_url(url: str, secrets: Iterable[str]) -> str:
    """What of a URL may be shown: scheme://host/..., or scheme://... where the host may be a secret
    (one is in it, it is in one, or it is masked already: apprise writes a token in the host's
    place as "1...w"). A URL in that form already is given back as it is."""
    scheme, _, rest = url.partition("://")
    if rest == "...":
        return url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    secrets = list(secrets)
    if (not host or "..." in host or "*" in host or redact(host, secrets) != host
            or any(host in secret.lower() for secret in secrets)):
        return f"{scheme.lower()}://..."
    return f"{scheme.lower()}://{host}/..."


def mask_credentials(url: str) -> str:
    """`url` with its password and the values of query parameters named like a secret (token, key,
    password, secret, apikey...) replaced by ***; the user name and the rest stay as written."""
    url = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url, count=1)
    head, question, query = url.partition("?")
    if not question:
        return url
    query, hash_mark, fragment = query.partition("#")
    parameters = []
    for parameter in query.split("&"):
        name, equals, value = parameter.partition("=")
        secret = equals and value and _SECRET_PARAMETER.search(name)
        parameters.append(f"{name}={MASK}" if secret else parameter)
    return f"{head}?{'&'.join(parameters)}{hash_mark}{fragment}"


def redact_sensitive(text: str, secrets: Iterable[str]) -> str:
    """`text` redacted where a secret can be: inside URLs (credentials masked too) and in
    `channel 'NAME': ...` errors; everything else as it is."""
    secrets = list(secrets)

    def scrub(match: re.Match) -> str:
        if match[1]:
            return match[1] + redact(match[2], secrets)
        return mask_credentials(redact(match[0], secrets))

    return _SENSITIVE.sub(scrub, text)


class RedactSecrets(logging.Filter):
    """Scrubs secrets from each record: where they can be (URLs, channel errors), or with
    `everywhere` the whole text (for records that are all about one channel: apprise's own)."""

    def __init__(self, secrets: Iterable[str], everywhere: bool = False):
        super().__init__()
        self.secrets: frozenset[str] = frozenset()
        self.scrub = redact if everywhere else redact_sensitive
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets |= {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.scrub(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text, self.secrets)
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
    for noisy in ("aiohttp", "httpx", "httpcore", "urllib3", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_secrets(secrets: list[str]) -> None:
    """Scrub these secrets too (a reloaded watchlist may bring new ones); no-op before setup."""
    for handler in logging.getLogger().handlers:
        for log_filter in handler.filters if getattr(handler, "_monitor", False) else ():
            if isinstance(log_filter, RedactSecrets):
                log_filter.add(secrets)
