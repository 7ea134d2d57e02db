"""OIDC provider, tokens and the session cookie."""
