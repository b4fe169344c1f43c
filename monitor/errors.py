"""Errors a user can act on. Each says what is wrong and where.

MonitorError
 ├── ConfigError        a watchlist or profile file is invalid (file, line, field)
 ├── InputError         a file given on the command line is unreadable (file:line, problem)
 ├── FeedError          a feed could not be fetched or parsed (feed name, reason)
 │    ├── FetchError
 │    └── ParseError
 └── ChannelError       an alert channel refused or failed (channel name, reason; no secrets)
"""


class MonitorError(Exception):
    """Base of every error the monitor reports to a user."""


class ConfigError(MonitorError):
    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.file, self.line, self.field = file, line, field
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"{field}: " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")


class InputError(MonitorError):
    pass


class FeedError(MonitorError):
    """A feed failed; the message is stored on the feed as its last error."""


class FetchError(FeedError):
    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


class ParseError(FeedError):
    pass


class ChannelError(MonitorError):
    pass
