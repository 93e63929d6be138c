"""Audit: an append-only trail of every read or change of protected data."""
