"""The credentials and knobs every test's simulator starts with."""

from __future__ import annotations

from haier_pipeline.simulator import SimulatorConfig

SIMULATOR_CREDENTIALS = {
    "client_id": "demo-client",
    "client_secret": "demo-secret-7f3a",
    "customer_code": "8800633175",
    "password": "demo-password-91c2",
}


def simulator_config(**knobs: object) -> SimulatorConfig:
    config = SimulatorConfig(
        client_id=SIMULATOR_CREDENTIALS["client_id"],
        client_secret=SIMULATOR_CREDENTIALS["client_secret"],
        customer_code=SIMULATOR_CREDENTIALS["customer_code"],
        send_to_code=SIMULATOR_CREDENTIALS["customer_code"],
        password=SIMULATOR_CREDENTIALS["password"],
        customer_password=SIMULATOR_CREDENTIALS["password"],
        products=60,
    )
    for name, value in knobs.items():
        setattr(config, name, value)
    return config
