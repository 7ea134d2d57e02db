"""Phase 7: resiliency drills (fault, detection, containment, recovery) and their ledger."""
