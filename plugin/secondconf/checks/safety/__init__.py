"""Production safety: the write guard and the secret scan."""
