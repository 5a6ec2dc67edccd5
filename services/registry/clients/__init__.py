"""The fields the registry reads from, and the calls it makes to, other services (over HTTP)."""
