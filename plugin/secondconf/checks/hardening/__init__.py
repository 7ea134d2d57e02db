"""Phase 3: header, idempotency and tenant rules, lifecycle and fuzzing."""
