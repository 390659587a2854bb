#!/usr/bin/env bash
# Installs what webgpu-train needs on a fresh Debian/Ubuntu machine with Node 20:
#  - chromium: the browser for the Puppeteer tests, and the source of SwiftShader's Vulkan driver
#    (vk_swiftshader_icd.json) that Dawn uses in Node when there is no GPU;
#  - libvulkan1: the Vulkan loader Dawn opens;
#  - the npm dependencies (Puppeteer's own browser download is skipped: see .puppeteerrc.cjs).
# As root it installs the system packages; otherwise it prints the exact command and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || missing+=(libvulkan1)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node $(node --version) is too old; webgpu-train needs Node 20.19 or newer" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: ready"
