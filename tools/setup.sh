#!/usr/bin/env bash
# Installs what tknp needs on a fresh Debian 12 machine: npm dependencies, and — where no
# usable Vulkan driver exists — Mesa >= 25 lavapipe from bookworm-backports (Dawn rejects
# Debian 12's Mesa 22); for the tests, Chromium and python3-prometheus-client. Idempotent: a
# second run does nothing it need not.
set -euo pipefail
cd "$(dirname "$0")/.."

have_lavapipe25() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 25 && dpkg -s libvulkan1 >/dev/null 2>&1
}
have_nvidia_icd() { ls /usr/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; }

if ! have_lavapipe25 && ! have_nvidia_icd; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  if [ -r /etc/debian_version ] && grep -q '^12' /etc/debian_version; then
    src=/etc/apt/sources.list.d/tknp-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      mirror=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | awk '{print $2}' | head -1)
      [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" | $SUDO tee "$src" >/dev/null
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    echo "tknp setup: no Vulkan driver found; install Mesa >= 25 (lavapipe) or a GPU driver with Vulkan" >&2
  fi
fi

# Test tools from Debian: Chromium (the playground page's browser test, driven by playwright-core)
# and the official Prometheus client's text parser (the /metrics test). Installed once.
need_debs=()
[ -x /usr/bin/chromium ] || need_debs+=(chromium)
/usr/bin/python3 -c 'import prometheus_client.parser' >/dev/null 2>&1 || need_debs+=(python3-prometheus-client)
if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  if command -v apt-get >/dev/null && { [ -z "$SUDO" ] || command -v sudo >/dev/null; }; then
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_debs[@]}" >/dev/null; } ||
      echo "tknp setup: warning: could not install ${need_debs[*]}: the browser and /metrics tests will skip" >&2
  else
    echo "tknp setup: warning: ${need_debs[*]} missing and no apt-get: the browser and /metrics tests will skip" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# The device-select Vulkan layer (per-rank GPU choice on multi-GPU hosts): C only, no Vulkan SDK.
if command -v cc >/dev/null && command -v make >/dev/null; then
  make -s -C native-vk-select >/dev/null || echo "tknp setup: warning: native-vk-select failed to build; ranks cannot choose among identical GPUs" >&2
else
  echo "tknp setup: warning: no cc/make: native-vk-select (per-rank GPU choice on multi-GPU hosts) not built" >&2
fi
[ -f native-nccl/build/Release/tknp_nccl.node ] || { command -v cmake >/dev/null && npm run --silent build:nccl >/dev/null; } || echo "tknp setup: warning: NCCL addon not built (needs cmake and g++; try npm run build:nccl); the nccl backend is unavailable" >&2
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src bench tools -name "*.ts" -newer dist/.built 2>/dev/null | head -1)" ] || [ ! -f dist/.built ]; then
  npx tsc -p tsconfig.json && touch dist/.built
fi
