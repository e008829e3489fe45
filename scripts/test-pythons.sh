#!/usr/bin/env bash
# Runs the mimicdb package's tests on Python 3.12 and 3.13 (3.11 runs in the main suite).
# Filled in by the mimicdb work; until then it only reports.
set -euo pipefail
echo "test-pythons: no extra Python runs yet"
