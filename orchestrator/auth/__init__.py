"""Sign-in for the control plane: Privy email codes, server-side sessions, CSRF and rate limits."""
