"""The live server's settings: `HOTLINE_` environment variables, nothing secret in files."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    database_url: str = "sqlite:///hotline.sqlite3"
    scenario: Path = Path("scenarios/national-hotline.yaml")
    flow: Path = Path("scenarios/national-hotline.flow.yaml")
    connectors: dict[str, Path] = {}  # name -> in-memory connector file (until records/)
    line_number: str = "+18005550100"  # the number callers dial; others get a polite refusal
    public_url: str = "http://127.0.0.1:8000"  # as the carrier sees us (signatures use it)
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr | None = None  # required: unsigned webhooks are refused
    twilio_api_base: str = "https://api.twilio.com"
    timezone: str = "America/New_York"  # the line's local time for flows
