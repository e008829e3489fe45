"""MimicDB proxy: an S3-compatible caching reverse proxy with a local metadata index."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "2.0.0.dev0"
