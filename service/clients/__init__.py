"""Integrator clients a clinic admin registers (client credentials: secret or private_key_jwt)."""
