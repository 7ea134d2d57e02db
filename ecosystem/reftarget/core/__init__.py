"""The shared core of the reference target: one implementation of the contract's
cross-cutting rules (trace ids, header rules, idempotency, auth, faults, telemetry per
request) that all eight apps are built on through :func:`reftarget.core.app.create_app`."""
