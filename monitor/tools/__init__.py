"""Offline tools: evaluation, replay, fitting, backtests, the demo, profile drafting."""
