"""Embedded PostgreSQL and Valkey for `hitl up` and the tests: start, reuse, recover, stop.

common (constants, errors, processes, ports), locations (binaries, data, the server account),
postgres, valkey, registry (services.json and its lock), services (EmbeddedServices).
"""

from service.embedded.common import FALLBACK_ROOT, Addresses, EmbeddedError
from service.embedded.registry import discover
from service.embedded.services import EmbeddedServices

__all__ = ["FALLBACK_ROOT", "Addresses", "EmbeddedError", "EmbeddedServices", "discover"]
