"""Phase 5, activation and growth hygiene: first use, credits, pages, CTAs, sampling."""
