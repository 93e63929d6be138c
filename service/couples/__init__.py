"""Couples in care and their two partners."""
