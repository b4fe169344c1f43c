"""Scoring an item against a profile: rules, the learned layer, the evidence."""
