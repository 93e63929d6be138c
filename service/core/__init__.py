"""Flask-free kernel: errors, request context, clock and identifiers."""
