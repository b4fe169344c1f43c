"""The watchlist and profiles: loading, validating, reporting errors by file:line."""
