"""Phase 1: dual-source liveness."""
