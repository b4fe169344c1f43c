"""The web server: dashboard pages, the REST API, metrics and health."""
