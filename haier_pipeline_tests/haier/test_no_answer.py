"""A call that gets no answer says what it ran into: each case is the real thing on loopback (a closed port, a server
that hangs up, plain HTTP behind an https:// URL, a self-signed certificate) or a name under `.invalid`, which never
resolves (RFC 6761)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from haier_pipeline.haier import HaierUnavailableError
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.simulator import RunningSimulator

ClientFactory = Callable[..., HaierClient]


def token_failure(client: HaierClient) -> str:
    with pytest.raises(HaierUnavailableError) as raised:
        client.balance()
    return str(raised.value)


@contextlib.contextmanager
def serving(handle: Callable[[socket.socket], None], wrap: ssl.SSLContext | None = None) -> Iterator[int]:
    """A loopback server handing each connection to `handle`; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError), connection:
                handle(wrap.wrap_socket(connection, server_side=True) if wrap else connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join()
        listener.close()


def hang_up(connection: socket.socket) -> None:
    connection.recv(65536)


def answer_200(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


def test_a_host_name_that_does_not_resolve_is_named(make_client: ClientFactory) -> None:
    message = token_failure(make_client(base_url="https://api.haier.invalid", timeout=5))
    assert message.startswith(
        "token: no answer, ConnectionError (the host name api.haier.invalid does not resolve) on 1 call over"
    ), "a name that does not resolve is not asked again"


@contextlib.contextmanager
def port_nothing_listens_on() -> Iterator[int]:
    """A port bound but never listening: connections to it are refused, and no other test can take it meanwhile (a
    port found free and let go can be a parallel test's server by the time the client connects)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_a_port_nothing_listens_on_is_named(make_client: ClientFactory) -> None:
    with port_nothing_listens_on() as port:
        message = token_failure(make_client(base_url=f"http://127.0.0.1:{port}"))
    # Asked again first, as a gateway restarting would be: the first call and the client's 3 retries.
    assert f"ConnectionError (127.0.0.1:{port} refused the connection: nothing listens on that port) on 4 " in message


def test_a_server_that_hangs_up_without_an_answer_is_named(make_client: ClientFactory) -> None:
    with serving(hang_up) as port:
        message = token_failure(make_client(base_url=f"http://127.0.0.1:{port}"))
    assert f"ConnectionError (127.0.0.1:{port} closed the connection without an answer) on 4 " in message


TOKEN_ANSWER = b'{"access_token": "tok-after-the-restart", "expires_in": 3600}'


def test_a_gateway_restarting_at_the_first_token_is_asked_again(make_client: ClientFactory) -> None:
    """The vendor asks for network failures to be retried: a token URL that hangs up twice, as a gateway going down
    for a restart does, and then answers, gives the token."""
    connections: list[bytes] = []

    def restarting(connection: socket.socket) -> None:
        connections.append(connection.recv(65536))
        if len(connections) > 2:
            head = f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len(TOKEN_ANSWER)}\r\n\r\n"
            connection.sendall(head.encode() + TOKEN_ANSWER)

    with serving(restarting) as port:
        assert make_client(base_url=f"http://127.0.0.1:{port}").token() == "tok-after-the-restart"
    assert len(connections) == 3 and all(request.startswith(b"POST /oauth2/auth ") for request in connections)


def test_an_https_url_to_a_plain_http_server_asks_whether_it_is_http(
    simulator: RunningSimulator, make_client: ClientFactory
) -> None:
    port = simulator.base_url.rsplit(":", 1)[1]
    message = token_failure(make_client(base_url=f"https://127.0.0.1:{port}"))
    assert f"SSLError (127.0.0.1:{port} does not speak TLS: is the URL http://?) on 1 call" in message


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a self-signed certificate (Debian's openssl package)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*request, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_a_certificate_nobody_vouches_for_is_named(make_client: ClientFactory, self_signed: ssl.SSLContext) -> None:
    with serving(answer_200, wrap=self_signed) as port:
        message = token_failure(make_client(base_url=f"https://127.0.0.1:{port}"))
    assert f"SSLError (127.0.0.1:{port}'s TLS certificate is not trusted: self-signed certificate) on 1 call" in message


def test_only_host_and_port_are_quoted_never_the_path_or_credentials(make_client: ClientFactory) -> None:
    with port_nothing_listens_on() as port:
        message = token_failure(make_client(token_url=f"http://user:hunter2@127.0.0.1:{port}/secret-path/oauth2/auth"))
    assert f"127.0.0.1:{port} refused the connection" in message
    assert "hunter2" not in message and "secret-path" not in message
