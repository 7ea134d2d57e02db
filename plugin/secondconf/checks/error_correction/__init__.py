"""Error correction (contract §8, §13): retries with full jitter, exponential backoff to a
cap, the circuit breaker's transitions, and the auto-heal of a failed A3 cycle, all read
from A8 while A4 answers 503 to A5."""
