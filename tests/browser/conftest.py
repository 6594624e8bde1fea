"""Fixtures of the browser tests."""

from tests.browser.platform import platform  # noqa: F401 (fixture)
