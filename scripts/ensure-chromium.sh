#!/bin/sh
# Makes sure the headless Chromium that the dashboard's browser tests drive (test/webDashboard.browser.test.ts,
# through playwright-core) is installed: Debian's `chromium` package, at /usr/bin/chromium unless CHROMIUM_PATH
# names another binary. Installs it with apt-get when it is missing; says what to do when it cannot.
set -eu

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  echo "ensure-chromium: found $CHROMIUM"
  exit 0
fi

if [ "${CHROMIUM_PATH:-}" != "" ]; then
  echo "ensure-chromium: CHROMIUM_PATH is set to $CHROMIUM, which is not an executable file." >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no Chromium at $CHROMIUM and no apt-get to install it." >&2
  echo "  Install Chromium with this system's package manager, or set CHROMIUM_PATH to a Chromium binary." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ensure-chromium: no Chromium at $CHROMIUM; installing it needs root." >&2
    echo "  Run as root: apt-get update && apt-get install -y chromium" >&2
    echo "  (or set CHROMIUM_PATH to a Chromium binary)" >&2
    exit 1
  fi
fi

echo "ensure-chromium: installing Debian's chromium package with apt-get"
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; then
  echo "ensure-chromium: apt-get install failed; updating the package lists and trying once more"
  if ! { $SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; then
    echo "ensure-chromium: could not install chromium with apt-get (see above)." >&2
    echo "  Install it by hand (apt-get install -y chromium), or set CHROMIUM_PATH to a Chromium binary." >&2
    exit 1
  fi
fi

if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: the chromium package is installed but $CHROMIUM is missing." >&2
  exit 1
fi
echo "ensure-chromium: installed $CHROMIUM"
