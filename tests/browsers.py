"""Debian's Chromium driven by Playwright, for the tests of server-rendered pages.

A browser test module sets `pytestmark = NEEDS_CHROMIUM`: skipped only when /usr/bin/chromium
is missing on a developer machine; under CI=true a missing browser fails (`make browser`
installs it; never `playwright install`). PostgreSQL pass only: the live server commits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
IN_CI = os.environ.get("CI") == "true"

NEEDS_CHROMIUM = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not IN_CI,
        reason=f"{CHROMIUM} is missing (make browser installs it); required when CI=true",
    ),
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing and CI=true: run `make browser` first")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
