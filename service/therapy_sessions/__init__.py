"""Therapy sessions: scheduling, completion with time shares, cancellation."""
