#!/usr/bin/env bash
# Create (or reuse) the local virtual environment .venv with requirements.txt and requirements-teacher.txt
# (nbgrader: CI runs its round trip), through the lesson's own installer (facegen/install.py), with
# PyTorch's default wheels (CUDA on Linux: CI and GPU machines). Sourced by notebook.sh and test.sh;
# installs only when a requirements file changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
"${PYTHON:-python3}" -m facegen.install --teacher --torch default --quiet
