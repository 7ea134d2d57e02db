"""Settings for every test of the project: Hypothesis without its per-example deadline.

A deadline is a timed test: on these shared 2-core machines an example taking over 200 ms
says how busy the machine is, not that the code is slow (speed is measured under
``perf/``). Under load the statistics properties failed with ``DeadlineExceeded``.
"""

from hypothesis import settings

settings.register_profile("secondconf", deadline=None)
settings.load_profile("secondconf")
