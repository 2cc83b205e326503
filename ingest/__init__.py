"""Ingest: collectors → `vigil.raw` → normaliser (parsers) → `vigil.events` → indexer → Elasticsearch."""
