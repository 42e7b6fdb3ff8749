"""`CONNECTOR_SOURCE_ADDRESS`: the local address a process's requests leave from.

An API that caps connections per client IP (Bitly: 5) sees each address as a machine. Set
per process (`CONNECTOR_SOURCE_ADDRESS=127.0.0.2 connector run ...`), loopback addresses
stand in for machines in tests and benchmarks: every 127.x.y.z is local on Linux.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from connector.errors import InvalidConfiguration

__all__ = ["SOURCE_ADDRESS_ENV", "source_address"]

SOURCE_ADDRESS_ENV = "CONNECTOR_SOURCE_ADDRESS"


def source_address(env: Mapping[str, str]) -> str | None:
    """The address set in `env`, checked to be an IP address; None when unset."""
    value = (env.get(SOURCE_ADDRESS_ENV) or "").strip()
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidConfiguration(
            f"expected a local IP address to send from, such as 127.0.0.2, got {value[:40]!r}",
            where=SOURCE_ADDRESS_ENV,
        ) from None
