"""reftarget: the embedded default target, a reference implementation of the A1-A8 contract."""
