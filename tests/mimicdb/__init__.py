"""Tests of the mimicdb package (the seed's boto 2 API).

Importing mimicdb first installs its shim, so the test modules here may import boto in
any order on Python 3.12 and later.
"""

from __future__ import annotations

import mimicdb  # noqa: F401
