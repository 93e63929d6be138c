"""HTTP conventions, built once: problem+json errors, pagination, ETags, idempotency, ids."""
