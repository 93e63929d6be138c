"""FHIR R4 for EHR integrators (DESIGN §10): read and search, Bulk Data export, schedule import."""
