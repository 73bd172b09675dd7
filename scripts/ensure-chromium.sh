#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: the tests open `metarl compare`'s HTML report in headless Chromium
# (no browser download; Debian's package). As root it installs it with apt-get when missing; otherwise it prints the
# exact command and exits 2.
set -uo pipefail
command -v chromium > /dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "the HTML report's test needs chromium; run: sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 2
fi
echo "installing chromium (apt-get)"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium > /tmp/metarl-apt-chromium.log 2>&1; then
  apt-get update -q > /tmp/metarl-apt-chromium.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >> /tmp/metarl-apt-chromium.log 2>&1 \
    || { echo "apt-get install chromium failed; see /tmp/metarl-apt-chromium.log" >&2; exit 2; }
fi
