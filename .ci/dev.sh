#!/usr/bin/env bash
# The development tier: every test not marked slow, on two workers of one thread each (tiny networks gain
# little from threads, much from a second process), without the notebook under nbval. About a minute.
# Extra arguments go to pytest (a file, -k EXPR, -x).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OMP_NUM_THREADS=1 MPLBACKEND=agg FACEGEN_QUICK=1 FACEGEN_OUT=$(mktemp -d) exec .venv/bin/python -m pytest -n 2 \
  -p no:nbval -p no:cacheprovider -o addopts= -m "not slow" "${@:-tests}"
