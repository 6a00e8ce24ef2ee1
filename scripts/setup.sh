#!/usr/bin/env bash
# Sets up everything jitseg needs on a Debian/Ubuntu machine with Node 20:
# system packages (ffmpeg, redis-server; with --test also chromium for the
# browser-player tests and nginx-light for the nginx front test) and the npm dependencies (which ship the Shaka Packager
# binary). Safe to run again: it only does what is missing.
set -euo pipefail
for_tests=false
[ "${1:-}" = "--test" ] && for_tests=true
cd "$(dirname "$0")/.."

say() { echo "[setup] $*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "[setup] jitseg needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none)); install it from https://nodejs.org or your package manager." >&2
  exit 1
fi

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if $for_tests && [ -z "${JITSEG_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
# The nginx front test (test/nginx-front.test.ts) runs deploy/nginx/jitseg.conf with Debian's nginx.
if $for_tests && ! command -v nginx >/dev/null 2>&1; then missing+=(nginx-light); fi
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else
        echo "[setup] missing system packages: run 'sudo apt-get install -y ${missing[*]}' and try again." >&2
        exit 1
      fi
    fi
    say "installing ${missing[*]} with apt-get…"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] missing system packages: install ${missing[*]} (ffmpeg >= 5) with your package manager and try again." >&2
    exit 1
  fi
fi

ffmpeg_major=$(ffmpeg -version | head -1 | sed -E 's/^ffmpeg version n?([0-9]+).*/\1/')
if ! [[ "$ffmpeg_major" =~ ^[0-9]+$ ]] || [ "$ffmpeg_major" -lt 5 ]; then
  echo "[setup] jitseg needs FFmpeg 5 or newer (found: $(ffmpeg -version | head -1))." >&2
  exit 1
fi

# npm dependencies: install when absent or when the lockfile changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies…"
  npm ci --no-audit --no-fund --loglevel=error
fi

node -e "import('./node_modules/shaka-packager/index.js').catch(()=>{})" >/dev/null 2>&1 || true
packager=$(node -e "const m={'linux-x64':'packager-linux-x64','linux-arm64':'packager-linux-arm64','darwin-x64':'packager-osx-x64','darwin-arm64':'packager-osx-arm64'}[process.platform+'-'+process.arch]; console.log('node_modules/shaka-packager/bin/'+m)")
if ! "$packager" --version >/dev/null 2>&1; then
  echo "[setup] the Shaka Packager binary ($packager) does not run on this machine." >&2
  exit 1
fi
say "ready: $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $("$packager" --version 2>&1 | head -1), node $(node --version)"
