"""Making and closing the async Google API clients of the Cloud Tasks and Scheduler backends.

Both talk to Google with the ambient credentials in production and, in tests,
over plain gRPC to a local endpoint (an emulator or an in-process fake). The
SDK classes are passed in by the caller, so this module imports nothing of
``google`` and only imports ``grpc`` when a local endpoint is asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["async_client", "close_client"]


def async_client(client_type: Any, transport_type: Any, endpoint: str | None) -> Any:
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
    """Close the gRPC channel under ``client`` (one without a transport needs nothing)."""
    transport = getattr(client, "transport", None)
    if transport is not None:
        await transport.close()
