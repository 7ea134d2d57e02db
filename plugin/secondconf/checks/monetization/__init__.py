"""Phase 4, money (contract §7, §11): the harness's own money model, the billing logic and
micro SKU checks against it, and the revenue lineage joined through A8 and Stripe."""
