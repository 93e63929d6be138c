"""Notifications: the transactional outbox that every email and webhook leaves through."""
