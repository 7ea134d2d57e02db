"""Phase 2: baseline load."""
