"""The browser code Hotline ships from its own origin is exactly the pinned package's:
each vendored file byte-identical to the one `npm ci` installs (package-lock.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "src" / "hotline" / "web" / "static" / "vendor"
MODULES = ROOT / "node_modules"
VENDORED = {  # vendored file -> where npm ci puts it
    "twilio.min.js": "@twilio/voice-sdk/dist/twilio.min.js",
    "twilio.min.js.LICENSE.md": "@twilio/voice-sdk/LICENSE.md",
    "twilio.min.js.events-LICENSE": "events/LICENSE",
}


def installed(path: str) -> Path:
    """A file npm ci installed; missing, the test fails, saying how to get it (`./dev test`
    runs npm ci first)."""
    found = MODULES / path
    if not found.is_file():
        pytest.fail(f"{found} is missing: run `npm ci` (./dev test does)")
    return found


@pytest.mark.parametrize(("vendored", "package_path"), sorted(VENDORED.items()))
def test_a_vendored_file_is_byte_identical_to_the_pinned_package(vendored, package_path):
    assert (VENDOR / vendored).read_bytes() == installed(package_path).read_bytes()


def test_the_vendored_sdk_is_the_version_package_json_pins():
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["@twilio/voice-sdk"]
    package = json.loads(installed("@twilio/voice-sdk/package.json").read_text())
    assert package["version"] == pinned
    assert f"`@twilio/voice-sdk` {pinned}" in (VENDOR / "README.md").read_text()


def test_every_vendored_file_ships_in_the_wheel():
    """pyproject's package data takes the vendor directory (a glob of static/* alone does
    not reach into it)."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "web/static/vendor/*" in data["package-data"]["hotline"]
    assert {p.name for p in VENDOR.iterdir()} == {*VENDORED, "README.md"}
