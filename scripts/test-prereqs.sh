#!/usr/bin/env bash
# System packages some tests need: libfaketime (pinned clocks in scenario runs) and Debian's
# chromium (the HTML report is checked in a real headless browser). Installed only when missing.
set -u
need=()
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || [ -n "$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null)" ] || need+=(faketime)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test prerequisites: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "warning: missing ${need[*]} (apt-get install ${need[*]}); the tests that need them will fail" >&2
fi
exit 0
