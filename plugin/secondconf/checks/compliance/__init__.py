"""Contract §14 compliance: PII minimization, COPPA, FERPA, academic integrity."""
