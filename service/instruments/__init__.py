"""Feedback instruments (built-in and clinic-defined), versioned, and their scoring."""
