"""Settings from the environment (prefix ``JINGZHUN_``); see CONTRACT §1."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("gateway", "registry", "funds", "notifications")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JINGZHUN_", extra="ignore")

    # --- contract §1 ---
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".jingzhun")
    host: str = "127.0.0.1"
    port: int = 8000
    admin_username: str = "admin"
    admin_password: str | None = None
    admin_region: str = "640122000000"
    notice_min_days: int = 7
    sms_url: str | None = None
    demo: bool = False
    # 滞留滞拨 alerts (CONTRACT §5): money idle more than idle_days, a project in one stage more than stage_days
    idle_days: int = Field(default=90, ge=1)
    stage_days: int = Field(default=60, ge=1)
    risk_share: Decimal = Field(Decimal("0.7"), gt=0, le=1, max_digits=5, decimal_places=4)   # 风险补偿 share

    # --- deployment (not part of the client contract) ---
    db_prefix: str = "jingzhun_"          # database per service: <prefix><service>
    queue_prefix: str = "jingzhun"        # arq queue per service: <prefix>:<service>
    gateway_url: str = "http://127.0.0.1:8000"
    registry_url: str = "http://127.0.0.1:8001"
    funds_url: str = "http://127.0.0.1:8002"
    notifications_url: str = "http://127.0.0.1:8003"
    jwt_private_key_file: Path | None = None   # default: <data_dir>/keys/jwt_private.pem
    jwt_issuer: str = "jingzhun"
    jwt_audience: str = "jingzhun-api"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 7 * 24 * 3600
    pii_key_file: Path | None = None           # default: <data_dir>/keys/pii.key
    log_level: str = "info"
    log_format: str = "auto"                    # "text", "json" (one object per line), "auto": text on a terminal
    verbose: bool = False                       # every access-log line and cron tick too (`jingzhun up --verbose`)
    workers: int = 1                            # uvicorn workers per service under `jingzhun up`
    # before 验收 a project's payments stay within this share of its budget (预付款/进度款 limit; 0 to 1)
    advance_share: Decimal = Field(Decimal("0.3"), ge=0, le=1)

    quiet_hours: str = "22:00-08:00"            # no SMS sent in this Beijing-time window ("" = none)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value and (not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value)
                      or value[:5] == value[6:]):
            raise ValueError("JINGZHUN_QUIET_HOURS must be HH:MM-HH:MM (two different times) or empty")
        return value

    def service_url(self, service: str) -> str:
        return getattr(self, f"{service}_url")

    @property
    def key_file(self) -> Path:
        return self.jwt_private_key_file or self.data_dir / "keys" / "jwt_private.pem"


@lru_cache
def get_settings() -> Settings:
    return Settings()
