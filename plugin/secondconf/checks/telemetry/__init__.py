"""The telemetry contract: schema, sampling, dedupe."""
