"""Errors a user can act on. Each says what is wrong and where.

MonitorError
 ├── ConfigError        a watchlist or profile file is invalid (file, line, field); `problems`
 │                      holds every problem found, each a ConfigError of its own
 ├── InputError         a file given on the command line is unreadable (file:line, problem)
 ├── FeedError          a feed could not be fetched or parsed (feed name, reason)
 │    ├── FetchError    the HTTP exchange failed (connection refused, DNS, ...)
 │    │    ├── FetchTimeout
 │    │    ├── StatusError       an error status; `status`, and `retry_after` when it said
 │    │    ├── BodyTooLarge
 │    │    └── TooManyRedirects
 │    └── ParseError    the body is no feed we read
 │         ├── Refused           hostile XML (entity expansion, external entities)
 │         └── NotAFeed          empty, HTML, JSON or broken XML
 └── ChannelError       an alert channel refused or failed (channel name, reason; no secrets)

Callers test the kind (`isinstance`) and read attributes, never the message text.
"""


class MonitorError(Exception):
    """Base of every error the monitor reports to a user."""


class ConfigError(MonitorError):
    """One problem (file:line: field: message), or several: `problems` lists them all, and file,
    line and field are the first one's; str() gives one problem a line."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message, self.file, self.line, self.field = message, file, line, field
        self.problems: tuple[ConfigError, ...] = (self,)
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"{field}: " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")

    @classmethod
    def of(cls, problems: "list[ConfigError]") -> "ConfigError":
        """One error for every problem of `problems` (itself, when there is only one)."""
        every = [problem for error in problems for problem in error.problems]
        if len(every) == 1:
            return every[0]
        first = every[0]
        error = cls(first.message, first.file, first.line, first.field)
        error.problems = tuple(every)
        error.args = ("\n".join(map(str, every)),)
        return error


class InputError(MonitorError):
    pass


class FeedError(MonitorError):
    """A feed failed; the message is stored on the feed as its last error."""


class FetchError(FeedError):
    pass


class FetchTimeout(FetchError):
    pass


class StatusError(FetchError):
    def __init__(self, message: str, status: int, retry_after: float | None = None):
        self.status, self.retry_after = status, retry_after
        super().__init__(message)


class BodyTooLarge(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class ParseError(FeedError):
    pass


class Refused(ParseError):
    pass


class NotAFeed(ParseError):
    pass


class ChannelError(MonitorError):
    pass


class MaybeDelivered(ChannelError):
    """The message went out and no answer came (a read timeout, the connection closed before the
    answer): the channel may have taken it. Never resent blindly: the row becomes `uncertain`."""


class UnusableURL(ChannelError):
    """apprise cannot use the channel's URL at all (unknown scheme, missing parts): no retry helps."""
