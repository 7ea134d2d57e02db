"""Statistics, sequential tests, windows, verdicts and the results model; no I/O."""
