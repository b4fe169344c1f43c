"""News incident monitor: polls feeds, scores items against incident profiles, alerts."""

__version__ = "0.1.0"
