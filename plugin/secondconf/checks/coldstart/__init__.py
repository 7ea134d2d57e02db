"""Cold starts (contract §13): the first request after a cold start, judged against the SLO."""
