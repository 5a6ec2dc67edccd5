"""The hot read's pool: connections come back without a reset round trip, yet never carry a transaction over."""

from services.registry.app import create
from shared.testing import app_client


async def test_a_connection_left_in_a_transaction_comes_back_clean_with_its_settings(settings):
    app = create(settings)
    async with app_client(app):
        pool = app.state.read_pool
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
            await conn.execute("BEGIN; SET LOCAL work_mem = '1MB'")
            assert conn.is_in_transaction()
        held = []
        try:
            while True:                     # find that connection again
                conn = await pool.acquire(timeout=5)
                held.append(conn)
                if conn.get_server_pid() == pid:
                    break
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('work_mem')") != "1MB"
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            for c in held:
                await pool.release(c)
