"""wsaudit: find broken and unsafe WebSocket endpoints before users do."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wsaudit")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
