"""Making, holding and closing the async Google API clients of every GCP implementation.

The Firestore store, the Cloud Tasks queue and the Cloud Scheduler control each
hold one :class:`LazyClient`: building them touches no SDK, so a service pays
for ``google.cloud`` only when it first talks to Google, and a client injected
by the caller (a test's in-process fake, a shared client) stays the caller's
to close. They reach Google with the ambient credentials in production and, in
tests, an emulator over plain gRPC (:func:`grpc_client`). SDK classes are
passed in by the caller, so this module imports nothing of ``google`` and
imports ``grpc`` only when a local endpoint is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["LazyClient", "close_client", "grpc_client"]

ClientT = TypeVar("ClientT")


class LazyClient(Generic[ClientT]):
    """One SDK client, made by ``make`` on first use, or the ``client`` given.

    :meth:`close` closes only a client this object made: an injected one
    belongs to whoever injected it.
    """

    def __init__(self, make: Callable[[], ClientT], client: ClientT | None = None) -> None:
        self._make = make
        self._client = client
        self._owned = client is None

    def get(self) -> ClientT:
        if self._client is None:
            self._client = self._make()
            self._owned = True
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._owned:
            await close_client(client)


def grpc_client(client_type: Any, transport_type: Any, endpoint: str | None) -> Any:
    """``client_type()`` to Google, or over plain gRPC to ``endpoint`` (``127.0.0.1:PORT``).

    The local channel ignores ``*_proxy`` variables: an emulator on the loopback
    interface is never reached through a proxy.
    """
    if endpoint is None:
        return client_type()
    import grpc  # type: ignore[import-untyped]

    channel = grpc.aio.insecure_channel(endpoint, options=[("grpc.enable_http_proxy", 0)])
    return client_type(transport=transport_type(channel=channel))


async def close_client(client: object) -> None:
    """Close the gRPC channel under ``client`` (one without a transport needs nothing).

    The generated clients (Cloud Tasks, Scheduler) expose ``transport``; the
    Firestore client keeps it on its internal API object.
    """
    transport = getattr(client, "transport", None)
    if transport is None:
        transport = getattr(getattr(client, "_firestore_api_internal", None), "transport", None)
    if transport is not None:
        await transport.close()
