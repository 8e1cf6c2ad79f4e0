"""Store the bench's virtual key in the gateway's database before `serve.sh` starts it.

Bench-only: `BENCH_KEY=virtual bash bench/serve.sh` runs it, so that `peers.sh --key SECRET`
measures requests authenticated by a virtual key (looked up after the settings keys: the
longer path) instead of the settings key `sk-bench`. The secret is given, not generated,
because peers.sh must know it; the key has no limits, budgets or model list, so its rows
differ from the settings key's by the key lookup alone.

    python bench/virtual_key.py DATABASE_URL SECRET
"""

from __future__ import annotations

import asyncio
import sys

from annas_gift.services.keys import hash_secret, secret_prefix
from annas_gift.storage import database, migrate
from annas_gift.storage.repositories.keys import KeyRepository

KEY_ID = "vk-bench"


async def store(url: str, secret: str) -> None:
    """Create `vk-bench` with this secret, or give an existing one this secret."""
    engine = database.create_engine(url)
    try:
        async with database.session_factory(engine)() as session, session.begin():
            repo = KeyRepository(session)
            digest, prefix = hash_secret(secret), secret_prefix(secret)
            if await repo.get(KEY_ID) is None:
                await repo.create(
                    key_id=KEY_ID, name="bench-virtual", secret_hash=digest, prefix=prefix
                )
            else:  # a database kept from an earlier run (DATABASE_URL set by the caller)
                await repo.rotate(KEY_ID, digest, prefix)
    finally:
        await engine.dispose()


def main(argv: list[str]) -> None:
    """Migrate the database, then store the key."""
    if len(argv) != 3:
        sys.exit(__doc__)
    url = database.normalize_url(argv[1])
    migrate.upgrade(url)
    asyncio.run(store(url, argv[2]))


if __name__ == "__main__":
    main(sys.argv)
