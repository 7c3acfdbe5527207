#!/usr/bin/env bash
# The main job: set everything up, then run face_generation.ipynb headlessly.
# The executed notebook and every output land in $FACEGEN_OUT (default outputs/).
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
out=${FACEGEN_OUT:-outputs}
mkdir -p "$out"
MPLBACKEND=agg .venv/bin/python -m jupyter nbconvert --to notebook --execute face_generation.ipynb \
  --ExecutePreprocessor.timeout=-1 --output-dir "$out" --output face_generation.out.ipynb
made=()
for f in samples.png losses.png progress.gif summary.json face_generation.out.ipynb; do
  if [ -f "$out/$f" ]; then made+=("$f"); fi
done
echo "Done: see $out/ (${made[*]})"
