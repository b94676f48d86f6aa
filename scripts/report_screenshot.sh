#!/usr/bin/env bash
# Renders a kvsim report in headless Chromium (Debian's package) and writes a PNG, to check the page as a person sees
# it. Usage: scripts/report_screenshot.sh REPORT.html OUT.png   (installs chromium with apt when it is missing)
set -euo pipefail
html="$(realpath "$1")"
png="$2"
if ! command -v chromium >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --window-size=1000,1800 --screenshot="$(realpath -m "$png")" "file://$html" 2>/dev/null
test -s "$png"
echo "wrote $png"
