"""Start, share and stop the embedded ecosystem (the Stripe-compatible server and A1–A8).

One module per lifecycle concern:

* ``secrets`` — generate the secret values and keep them in ``secrets.env`` (0600);
* ``process`` — one child process with its log, free loopback ports;
* ``ecosystem`` — ``Ecosystem``: start everything, wait until ready, control and stop it;
* ``lease`` — which processes use a shared ecosystem (a lease file under a file lock);
* ``supervisor`` — ``shared_ecosystem``: one detached supervisor that runs the ecosystem for
  every lease holder, controlled over a Unix socket.
"""
