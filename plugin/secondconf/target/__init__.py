"""How the harness talks to a deployment: map, clients, identity, A8, control."""
