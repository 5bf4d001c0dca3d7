"""Config of the local HTTP endpoint (``http:`` in the YAML)."""

from __future__ import annotations

from pydantic import Field, field_validator

from logflume.models import StrictModel

DEFAULT_ADDRESS = "127.0.0.1:9466"


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) into its parts; ValueError when malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, got {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port in {address!r}")
    return host, int(port_text)


class HttpConfig(StrictModel):
    enabled: bool = Field(True, description="Serve /metrics, /healthz, /readyz, /loglevel and /tap.")
    address: str = Field(
        DEFAULT_ADDRESS,
        description=(
            "host:port to listen on. Loopback by default: the endpoint has no authentication, and "
            "POST /loglevel and /tap (which shows event contents) must not be reachable from outside. "
            "Use 0.0.0.0:9466 only where the network is private (a pod's probes, a scraper)."
        ),
    )

    tap_before_redact: bool = Field(
        False,
        description=(
            "Allow /tap (and `logflume tap`) to follow the stages before redact (parse, normalise), "
            "whose events still hold secrets in clear. Off: those stages are refused, and a tap "
            "follows redact unless another stage after it is asked for."
        ),
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        split_address(value)
        return value

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]
