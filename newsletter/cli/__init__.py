"""The ``newsletter`` command line."""

from newsletter.cli.main import cli, main

__all__ = ["cli", "main"]
