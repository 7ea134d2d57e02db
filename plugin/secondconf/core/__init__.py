"""Standard-library helpers: the clock and atomic files."""
