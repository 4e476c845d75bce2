#!/usr/bin/env bash
# What the benchmarks compare against and probe: Debian's nginx (the target) and
# prometheus-blackbox-exporter (the peer). Installed when missing (needs root, as in CI).
set -euo pipefail
need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
# openssl s_time: TLS handshakes in C with nothing else, the host's floor for an HTTPS check
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends and policy-rc.d: only the binaries, no services started
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
