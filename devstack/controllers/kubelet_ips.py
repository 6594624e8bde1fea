"""Loopback pod IPs: one unique 127.x.y.z address per pod, released on deletion."""

from __future__ import annotations

import ipaddress


class IpPool:
    """Hands out addresses from a loopback network (Linux routes all of 127/8 to lo).

    Addresses ending in .0 or .255 are skipped so they never look like network or
    broadcast addresses to programs that parse them.
    """

    def __init__(self, network: str = "127.1.0.0/16") -> None:
        self.network = ipaddress.IPv4Network(network)
        if not self.network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
            raise ValueError(f"pod network {network} is not inside 127.0.0.0/8")
        self._by_key: dict[str, str] = {}
        self._used: set[str] = set()
        self._next = int(self.network.network_address) + 1

    def allocate(self, key: str) -> str:
        """The address of `key`, allocating one if it has none."""
        if key in self._by_key:
            return self._by_key[key]
        first = int(self.network.network_address) + 1
        last = int(self.network.broadcast_address) - 1
        span = last - first + 1
        for _ in range(span):
            candidate = self._next
            self._next = first + (self._next - first + 1) % span
            address = str(ipaddress.IPv4Address(candidate))
            if address.endswith((".0", ".255")) or address in self._used:
                continue
            self._used.add(address)
            self._by_key[key] = address
            return address
        raise RuntimeError(f"pod network {self.network} is exhausted")

    def release(self, key: str) -> None:
        """Return a pod's address to the pool."""
        address = self._by_key.pop(key, None)
        if address is not None:
            self._used.discard(address)

    def get(self, key: str) -> str | None:
        """The address of `key`, if any."""
        return self._by_key.get(key)
