"""Mutual TLS between a testbed's gRPC parties, when the inventory enables it (``vdlt_tls``).

Every party holds the testbed's CA certificate and a certificate of its own signed by that CA
(harness/tls.py makes them on the controller; the playbooks copy each node its own). Servers
demand a client certificate from the same CA, so only the testbed's nodes and its controller
can call a node. Without TLS files, channels and ports are plaintext, as before.
"""
from __future__ import annotations

import grpc

from protocol.tls_files import TlsFiles

__all__ = ["TlsFiles", "add_port", "aio_channel", "channel"]


def _server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    ca, cert, key = tls.read()
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def _channel_credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    ca, cert, key = tls.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def channel(address: str, tls: TlsFiles | None, server_name: str | None = None) -> grpc.Channel:
    """A channel to ``address``; with TLS, the server's certificate must name ``server_name``
    (default: the host part of ``address``), for when a node is called at another address
    than the one its certificate names (its own loopback, say)."""
    if tls is None:
        return grpc.insecure_channel(address)
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.secure_channel(address, _channel_credentials(tls), options=options)


def aio_channel(address: str, tls: TlsFiles | None) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(address, _channel_credentials(tls))


def add_port(server: grpc.Server | grpc.aio.Server, address: str, tls: TlsFiles | None) -> int:
    """Binds ``address``; returns the port, 0 when it could not be bound."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, _server_credentials(tls))
