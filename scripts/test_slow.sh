#!/bin/sh
# The full tier, for a scheduled job: installs (./setup.sh --slow, with Chromium for the browser test
# of report.html), then runs the slow tests (shipped models in RTL, full FPGA builds, the whole-board
# UART simulation, training runs, report.html in headless Chromium) and the property tests
# with hypothesis's "nightly" profile (many more random examples than the fast tier's fixed ones).
set -eu
cd "$(dirname "$0")/.."
./setup.sh --slow
.venv/bin/python -m pytest -m slow -ra "$@"
HYPOTHESIS_PROFILE=nightly .venv/bin/python -m pytest -ra tests/test_compiler_properties.py tests/test_bnn_hw_intmath.py "$@"
