"""Clinics: the tenants."""
