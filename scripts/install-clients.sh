#!/usr/bin/env bash
# Installs the S3 clients the tests drive that are not Python packages: rclone, from
# Debian's package. It never fails the run: when rclone cannot be installed it says so
# here, and tests/clients/test_rclone.py then fails with the same advice, unless
# MIMICDB_TESTS_WITHOUT_RCLONE=1 declares that this machine cannot have rclone.
set -u

if command -v rclone >/dev/null 2>&1; then
    echo "clients: $(rclone version 2>/dev/null | head -n 1) found"
    exit 0
fi
if [ "${MIMICDB_TESTS_WITHOUT_RCLONE:-}" = "1" ]; then
    echo "clients: rclone is not installed; MIMICDB_TESTS_WITHOUT_RCLONE=1: its tests are left out"
    exit 0
fi
advice="tests/clients/test_rclone.py will fail: install rclone, or set MIMICDB_TESTS_WITHOUT_RCLONE=1"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "clients: CANNOT INSTALL rclone: no apt-get on this machine; $advice"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "clients: CANNOT INSTALL rclone: not root and no passwordless sudo; $advice"
        exit 0
    fi
fi
echo "clients: installing rclone with apt-get"
if $sudo apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rclone >/dev/null; then
    echo "clients: $(rclone version 2>/dev/null | head -n 1) installed"
else
    echo "clients: CANNOT INSTALL rclone: apt-get failed (offline?); $advice"
fi
exit 0
