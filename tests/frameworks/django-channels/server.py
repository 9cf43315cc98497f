"""Runs app.application under Daphne, Channels' ASGI server, on 127.0.0.1:$PORT."""

import os
import sys

from daphne.cli import CommandLineInterface

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    CommandLineInterface().run(
        ["--bind", "127.0.0.1", "--port", os.environ["PORT"], "app:application"]
    )
