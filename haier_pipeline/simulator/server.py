"""Running the simulator: in a background thread for tests and the demo, or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from types import TracebackType

import uvicorn

from haier_pipeline.simulator.app import create_app
from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.simulator.counters import Counters
from haier_pipeline.simulator.dataset import Dataset, dataset_for
from haier_pipeline.simulator.state import SimulatorState


def _bind(host: str, port: int) -> socket.socket:
    # Binding here (not in uvicorn) lets port 0 pick a free port that we can read back before serving.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _server(config: SimulatorConfig, state: SimulatorState) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            create_app(config, state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            backlog=2048,
        )
    )


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class RunningSimulator:
    """A simulator serving in a daemon thread; `config` is live, `stop()` (or `with`) ends it."""

    def __init__(self, config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.state = SimulatorState(config.seed)
        self._sock = _bind(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.base_url = _url(host, self.port)
        self._server = _server(config, self.state)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="haier-simulator", daemon=True
        )
        self._thread.start()
        self._wait_until_serving()

    @property
    def counters(self) -> Counters:
        return self.state.counters

    @property
    def dataset(self) -> Dataset:
        return dataset_for(self.config.seed, self.config.products)

    def revoke_tokens(self) -> None:
        self.state.tokens.revoke_all()

    def reset_counters(self) -> None:
        self.state.reset(self.config.seed)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_until_serving(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator thread died while starting")
            if self._server.started:
                try:
                    with urllib.request.urlopen(f"{self.base_url}/_sim/stats", timeout=2):
                        return
                except OSError:
                    pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"the simulator did not answer on {self.base_url} within {timeout} s")


def start_simulator(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve in a background thread and return once it answers; port 0 picks a free port."""
    return RunningSimulator(config or SimulatorConfig(), host, port)


def environment_line(config: SimulatorConfig, base_url: str) -> str:
    """The variables a client needs to talk to this simulator (demo credentials, not secrets)."""
    parts = [
        f"HAIER_BASE_URL={base_url}",
        f"HAIER_CLIENT_ID={config.client_id}",
        f"HAIER_CLIENT_SECRET={config.client_secret}",
        f"HAIER_CUSTOMER_CODE={config.customer_code}",
        f"HAIER_SEND_TO_CODE={config.send_to_code}",
        f"HAIER_PASSWORD={config.password}",
    ]
    if config.customer_password != config.password:
        parts += [
            f"HAIER_SELLER_PASSWORD={config.customer_password}",
            f"HAIER_CUSTOMER_PASSWORD={config.customer_password}",
        ]
    parts.append(f"HAIER_COUNTY_CODES={','.join(config.counties)}")
    return " ".join(parts)


def serve(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve in the foreground until Ctrl-C, after printing how to point a client at it."""
    config = config or SimulatorConfig()
    sock = _bind(host, port)
    print(environment_line(config, _url(host, sock.getsockname()[1])), flush=True)
    try:
        _server(config, SimulatorState(config.seed)).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it handled gracefully; a traceback would only alarm the user.
        pass
    finally:
        sock.close()
