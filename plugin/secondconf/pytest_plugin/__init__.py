"""pytest wiring: the only package that imports pytest."""
