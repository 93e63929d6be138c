"""Checks for text that arrives outside a schema (OAuth form fields, login forms)."""


def plain_text(value: object, max_length: int) -> bool:
    """A non-empty string without control characters, safe to send to the database."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    )
