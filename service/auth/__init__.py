"""OAuth 2 authorization server, token validation, scopes and roles, the login page."""
