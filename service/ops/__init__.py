"""Operations: health, readiness, metrics, JSON logs and the API docs page."""
