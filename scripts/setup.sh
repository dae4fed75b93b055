#!/usr/bin/env bash
# Install what utvm, its demo and its tests need: Debian packages (when run as
# root on a Debian-like system; otherwise it says which ones to install) and
# the Python package with its test extras, editable.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    gcc make libc6-dev cmake                                                         # host builds
    gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib         # Cortex-M builds
    qemu-system-arm                                                                  # Cortex-M emulation
    arduino-core-avr arduino-builder gcc-avr avr-libc                                # Arduino AVR sketches
    simavr libsimavr-dev                                                             # AVR emulation
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: missing Debian packages (install them as root): ${missing[*]}" >&2
    fi
fi

python3 -m pip install -q -e '.[test]'
