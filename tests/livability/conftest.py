"""The browser fixtures of tests/web, for this domain's page tests."""

from tests.web.conftest import browser, live_server, page  # noqa: F401
