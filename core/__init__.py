"""Vigil core: settings, the models every package shares, client factories and the CLI."""
