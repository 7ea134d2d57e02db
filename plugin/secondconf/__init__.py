"""secondconf: a pytest plugin that gates a release on an honest second confirmation."""

__version__ = "0.1.0"
