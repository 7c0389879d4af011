"""Authentication of API requests with JWT bearer tokens."""
