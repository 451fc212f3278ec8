"""Starting `llmops up` again right after a stop: the port probe must tell a listening server from closed
connections that linger in TIME-WAIT."""

from __future__ import annotations

import socket

import pytest

from llmops_local.platform import PlatformError, ensure_port_free

HOST = "127.0.0.1"


def _listener() -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server and werkzeug bind
    server.bind((HOST, 0))
    server.listen()
    return server


def test_given_a_server_listening_on_the_port_then_the_probe_refuses_it() -> None:
    with _listener() as server:
        port = server.getsockname()[1]

        with pytest.raises(PlatformError, match=rf"API port {HOST}:{port} is in use"):
            ensure_port_free(HOST, port, "API")


def test_given_a_server_that_stopped_after_closing_a_connection_then_the_port_is_free_again() -> None:
    server = _listener()
    port = server.getsockname()[1]
    client = socket.create_connection((HOST, port))
    accepted, _ = server.accept()
    accepted.close()  # the server closes first, as an HTTP server does: its side of the port waits in TIME-WAIT
    client.recv(1)
    client.close()
    server.close()

    ensure_port_free(HOST, port, "API")
