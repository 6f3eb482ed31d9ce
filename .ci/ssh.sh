#!/usr/bin/env bash
# CI: OpenSSH's server and client for the test of the documented SSH tunnel recipe
# (tests/test_ray_cluster.py starts an sshd of its own on a loopback port; nothing
# listens on port 22). Idempotent; root, or a user with sudo.
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
if ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1 \
        || { ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; }; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # A policy-rc.d that says no keeps the package from starting a system sshd on
    # port 22; one that the machine has already is left as it is.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    $sudo apt-get install -y -qq --no-install-recommends openssh-server openssh-client
    if [ -n "$made_policy" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi
$sudo mkdir -p /run/sshd   # sshd refuses to start without its privilege-separation folder
