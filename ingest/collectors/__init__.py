"""Collectors: read log sources (files, sockets, EVTX imports) and hand raw records to `vigil.raw`."""
