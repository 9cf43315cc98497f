"""The probe engine: one async call probes one WebSocket endpoint and returns typed checks.

Pure parts (target parsing, guard decisions, origin cases, classification) are separate
from the I/O (resolve, handshake, TLS, idle hold) so that each can be tested on its own.
"""

from .config import ProbeConfigError, read_token_file
from .engine import probe
from .guard import AddressGuard, parse_network
from .models import Check, CheckStatus, ProbeConfig, ProbeResult

__all__ = [
    "AddressGuard",
    "Check",
    "CheckStatus",
    "ProbeConfig",
    "ProbeConfigError",
    "ProbeResult",
    "parse_network",
    "probe",
    "read_token_file",
]
