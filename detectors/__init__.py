"""Detectors: the Sigma engine, stateful detectors, the entity inventory, alert dedup/suppression."""
