"""pytest wiring: options, markers and hooks (filled in below)."""
