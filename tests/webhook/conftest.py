"""Fixtures: a recording handler behind the webhook, served over real HTTP.

One uvicorn server per test module (starting and stopping one costs ~0.2 s);
the handler double is reset before each test so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from zenjobs.runtime.webhook import create_app
from zenjobs.testing.http import serve_app

from .doubles import RecordingHandler


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[RecordingHandler, str]]:
    shared = RecordingHandler()
    with serve_app(create_app(shared)) as base_url:
        yield shared, base_url


@pytest.fixture
def handler(served: tuple[RecordingHandler, str]) -> RecordingHandler:
    shared, _ = served
    shared.reset()
    return shared


@pytest.fixture
def client(
    served: tuple[RecordingHandler, str], handler: RecordingHandler
) -> Iterator[httpx.Client]:
    """An HTTP client for the webhook (no OIDC) running under a real uvicorn server."""
    with httpx.Client(base_url=served[1]) as http:
        yield http
