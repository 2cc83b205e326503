"""Scheduled and on-demand hunts: Sigma rules as Elasticsearch queries over `logs-*`."""
