"""Structural facts about the vendors' APIs, derived by scripts in `tools/`."""
