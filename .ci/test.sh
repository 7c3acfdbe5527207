#!/usr/bin/env bash
# Set everything up, then run all tests: pytest on tests/ and nbval on the notebook (quick config).
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
export FACEGEN_QUICK=1
# A fresh output folder, so the test run never resumes from (or replaces) a real run's checkpoint.
FACEGEN_OUT=$(mktemp -d)
export FACEGEN_OUT
trap 'rm -rf "$FACEGEN_OUT"' EXIT
# Two workers of one thread each (tiny networks gain little from threads, much from a second process); each
# test file runs in one worker, so a file's fixtures (nbgrader's course, a kernel) are made once.
OMP_NUM_THREADS=1 MPLBACKEND=agg .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
