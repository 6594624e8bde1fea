"""accelhub hub service: quotas, reservations, leases, accounting and reclaim for accelerators."""
