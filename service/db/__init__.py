"""Persistence: declarative base and tenancy mixins, engine and sessions, the unit of work."""
