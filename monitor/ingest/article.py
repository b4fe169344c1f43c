"""Read an item's article page: fetch it as feeds are fetched, extract its main text.

For items whose feed gives only a headline or a teaser (`full_text`, chosen in pipeline.py).
The page is fetched by fetch.fetch_feed, so with the same guards as a feed (timeouts, byte cap,
redirects followed by hand, private addresses refused unless `fetch.allow_private`), a smaller
cap and deadline; and politely:
- robots.txt is read once per site (scheme, host and port) and kept ROBOTS_TTL, and a page it
  disallows for our user agent is not fetched, nor one a link redirects to on a site whose
  robots.txt disallows it. As RFC 9309 says: a robots.txt answered with a 4xx
  (none there) allows everything; one that cannot be read (5xx, timeout, refused) disallows
  everything, and is asked again after ROBOTS_RETRY;
- one request at a time per site (a redirect's target on another site excepted), and at most
  CONCURRENCY pages at once in all (robots.txt reads aside); a feed waits for its pages as long
  as DEADLINE_PAGES pages may take, then goes on without the rest.
The main text is extracted by trafilatura (precision first: no comments, no tables), off the
event loop. A page that cannot be fetched or read gives None, logged with its host and path
only (a link's query may carry a token): the item is then scored on what its feed gave.
"""

import asyncio
import codecs
import logging
import re
import time
import urllib.robotparser
from collections.abc import Callable
from email.message import Message
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from ..errors import FetchError, StatusError
from ..model import FeedState
from ..settings.config import FetchConfig
from .fetch import fetch_feed, make_client

log = logging.getLogger("monitor.article")

MAX_BYTES = 2 * 1024 * 1024  # largest article page read (or fetch.max_bytes, if smaller)
TIMEOUT = 20.0  # seconds for one page, slow senders included (or fetch.total_timeout, if shorter)
ROBOTS_MAX_BYTES = 512 * 1024  # Google reads 500 KiB of a robots.txt
ROBOTS_TTL = 3600.0  # seconds a site's robots.txt is kept
ROBOTS_RETRY = 600.0  # seconds before a robots.txt that could not be read is asked again
CONCURRENCY = 4  # pages fetched at once, over all sites
DEADLINE_PAGES = 3  # a feed waits for its pages as long as this many may take (x TIMEOUT)
MAX_TEXT = 20_000  # characters of main text kept (the item's description has the same cap)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class RobotsRules:
    """Each site's robots.txt rules, kept across polls (see the module's docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._rules: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}

    def get(self, site: str) -> urllib.robotparser.RobotFileParser | None:
        expires, rules = self._rules.get(site, (0.0, None))
        return rules if self._clock() < expires else None

    def put(self, site: str, rules: urllib.robotparser.RobotFileParser, ttl: float) -> None:
        self._rules[site] = (self._clock() + ttl, rules)


class ArticlePages:
    """One poll's article fetching: an HTTP client made on first use, a lock per site, a cap
    on pages at once. Use as `async with ArticlePages(...) as pages: await pages.texts(urls)`."""

    def __init__(self, settings: FetchConfig, robots: RobotsRules):
        self.settings = settings.model_copy(update={"max_bytes": min(settings.max_bytes, MAX_BYTES),
                                                    "total_timeout": min(settings.total_timeout, TIMEOUT)})
        self.robots_settings = self.settings.model_copy(update={"max_bytes": ROBOTS_MAX_BYTES})
        self.robots = robots
        self._client: aiohttp.ClientSession | None = None
        self._sites: dict[str, asyncio.Lock] = {}
        self._at_once = asyncio.Semaphore(CONCURRENCY)
        self._robots_reads: dict[str, asyncio.Task] = {}  # site: its robots.txt being read

    async def __aenter__(self) -> "ArticlePages":
        return self

    async def __aexit__(self, *exc_info) -> None:
        for reading in list(self._robots_reads.values()):
            reading.cancel()
        await asyncio.gather(*self._robots_reads.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    async def texts(self, urls: list[str]) -> dict[str, str]:
        """{url: main text} of the pages read in time: a feed waits for its pages as long as
        DEADLINE_PAGES of them may take (pages of one slow site come one at a time)."""
        if not urls:
            return {}
        reading = {asyncio.create_task(self.text(url)): url for url in urls}
        done, late = await asyncio.wait(reading, timeout=DEADLINE_PAGES * self.settings.total_timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            log.info("%d article pages not read in time (%s, ...): their items are scored on what "
                     "their feed gave", len(late), _where(reading[next(iter(late))]))
        return {reading[task]: task.result() for task in done if task.result()}

    async def text(self, url: str) -> str | None:
        """The main text of the page at `url`, or None (disallowed, failed, nothing found)."""
        site = _site(url)
        async with self._sites.setdefault(site, asyncio.Lock()):
            if not (await self._rules(site)).can_fetch(self.settings.user_agent, url):
                log.debug("article %s not fetched: disallowed by %s/robots.txt", _where(url), site)
                return None
            async with self._at_once:
                page = await self._get(url)
        if page is None:
            return None
        text = await asyncio.to_thread(main_text, page.body, page.content_type, url)
        if not text:
            log.info("article %s: no main text found in the page", _where(url))
        return text

    async def _get(self, url: str):
        try:
            page = await fetch_feed(self.client, FeedState("article", url), self.settings,
                                    check_redirect=self._allowed_redirect)
        except Exception as exc:  # FetchError, or another failure: the item keeps its feed text
            log.info("article %s not read: %s", _where(url), _reason(exc).replace(url, _where(url)))
            return None
        if not _is_html(page.content_type):
            log.info("article %s not read: %s is not an HTML page", _where(url), page.content_type)
            return None
        return page

    async def _allowed_redirect(self, target: URL) -> None:
        """A redirect is followed only where the target's site allows it in its robots.txt: often
        another site than the link's (a feed's tracking or short links)."""
        url = str(target)
        site = _site(url)
        if not (await self._rules(site)).can_fetch(self.settings.user_agent, url):
            raise FetchError(f"the redirect to {_where(url)} is disallowed by {site}/robots.txt")

    async def _rules(self, site: str) -> urllib.robotparser.RobotFileParser:
        """The site's rules, kept; else read once, by one task that every page of the site waits
        for. It takes no page slot (a page that redirects holds one while its target's rules are
        read) and outlives a page that gives up waiting, so an unreachable robots.txt is kept as
        such instead of being asked again by every page."""
        rules = self.robots.get(site)
        if rules is not None:
            return rules
        reading = self._robots_reads.get(site)
        if reading is None:
            reading = self._robots_reads[site] = asyncio.create_task(self._read_and_keep(site))
        return await asyncio.shield(reading)

    async def _read_and_keep(self, site: str) -> urllib.robotparser.RobotFileParser:
        try:
            rules, ttl = await self._read_robots(site)
            self.robots.put(site, rules, ttl)
            return rules
        finally:
            self._robots_reads.pop(site, None)

    async def _read_robots(self, site: str) -> tuple[urllib.robotparser.RobotFileParser, float]:
        rules = urllib.robotparser.RobotFileParser(f"{site}/robots.txt")
        try:
            answer = await fetch_feed(self.client, FeedState("robots.txt", rules.url), self.robots_settings)
        except StatusError as exc:
            if 400 <= exc.status < 500:  # none there: everything allowed
                rules.allow_all = True
                return rules, ROBOTS_TTL
            return _unreachable(rules, site, _reason(exc))
        except Exception as exc:  # FetchError, or another failure
            return _unreachable(rules, site, _reason(exc))
        rules.parse((answer.body or b"").decode("utf-8", "replace").splitlines())
        return rules, ROBOTS_TTL

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = make_client(self.settings, accept=PAGE_ACCEPT)
        return self._client


def _unreachable(rules: urllib.robotparser.RobotFileParser, site: str, error: str):
    log.info("%s/robots.txt could not be read (%s): no article pages of the site are fetched for now",
             site, error)
    rules.disallow_all = True
    return rules, ROBOTS_RETRY


def main_text(body: bytes | None, content_type: str | None, url: str) -> str | None:
    """The page's main text (trafilatura: precision first, without comments and tables), at
    most MAX_TEXT characters, cut at the end of a paragraph where one is near. (Not trafilatura's
    `deduplicate`: its cache outlives the call, and a page read a second time would come back
    empty.)"""
    if not body:
        return None
    import trafilatura  # a quarter of a second to import: only once a page is read
    try:
        text = trafilatura.extract(_decoded(body, content_type), url=url, favor_precision=True,
                                   include_comments=False, include_tables=False)
    except Exception as exc:  # a page that breaks the extractor costs its item the page, no more
        log.info("article %s: extraction failed (%s)", _where(url), type(exc).__name__)
        return None
    if not text:
        return None
    if len(text) > MAX_TEXT:
        cut = text.rfind("\n", 0, MAX_TEXT)
        text = text[:cut if cut > MAX_TEXT // 2 else MAX_TEXT]
    return text.strip() or None


def _decoded(body: bytes, content_type: str | None) -> str:
    """The page as text: the charset its header or a <meta> names, else UTF-8, else windows-1252
    (what browsers assume). Decoded here so that the extractor never guesses or inflates."""
    header = Message()
    header["Content-Type"] = content_type or ""
    meta = _META_CHARSET.search(body[:4096])
    for charset in (header.get_param("charset"), meta and meta[1].decode("ascii"), "utf-8"):
        if isinstance(charset, str) and _known(charset):
            try:
                return body.decode(charset)
            except UnicodeDecodeError:
                continue
    return body.decode("windows-1252", "replace")


def _known(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, FetchError) else f"{type(exc).__name__}: {exc}"


def _is_html(content_type: str | None) -> bool:
    return not content_type or content_type.split(";")[0].strip().lower() in _HTML_TYPES


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _where(url: str) -> str:
    """Host and path of a link, without its query (which may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.hostname or ''}{parts.path}"
