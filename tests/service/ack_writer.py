"""The child of the kill test: 50 writers start leases on the store at URL without pause, and
each lease's id is printed once its start has committed (until the process is killed)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime

from hub_ext.service.records import LeaseRecord
from hub_ext.service.store import Repository, make_engine


async def main(url: str, writers: int = 50) -> None:
    store = Repository(make_engine(url))
    now = datetime.now(UTC)

    async def writer(index: int) -> None:
        while True:
            lease_id = uuid.uuid4().hex
            await store.start_lease(LeaseRecord(lease_id, lease_id, "", "a100", 1, "g", None, now))
            sys.stdout.write(lease_id + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer(i) for i in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
