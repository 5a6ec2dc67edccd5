"""First start: the county administrator, when no user exists yet."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI

from services.gateway.users import service as users
from shared import regions

log = logging.getLogger("jingzhun.gateway.bootstrap")


async def ensure_admin(app: FastAPI) -> None:
    settings = app.state.settings
    async with app.state.db.sessionmaker() as session:
        await users.lock_bootstrap(session)
        if await users.any_user_exists(session):
            return
        regions.validate(settings.admin_region)
        password = settings.admin_password or secrets.token_urlsafe(12)
        weak = users.password_problems(password)
        if weak:
            log.warning("JINGZHUN_ADMIN_PASSWORD is weak (%s); change it after signing in", "; ".join(weak))
        await users.create_user(session, username=settings.admin_username, password=password,
                                display_name="县级管理员", role="county_admin", region_code=settings.admin_region,
                                created_by="system", check_password=False)
        await session.commit()
    if settings.admin_password:
        print(f"Administrator {settings.admin_username} created (password from JINGZHUN_ADMIN_PASSWORD)", flush=True)
    else:
        print(f"Administrator {settings.admin_username} created; password: {password}", flush=True)
