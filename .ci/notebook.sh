#!/usr/bin/env bash
# The main job: set everything up, then run face_generation.ipynb headlessly.
# The executed notebook lands in $FACEGEN_OUT (default outputs/), the run's files in its runs/<name>/.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
out=${FACEGEN_OUT:-outputs}
mkdir -p "$out"
MPLBACKEND=agg .venv/bin/python -m jupyter nbconvert --to notebook --execute face_generation.ipynb \
  --ExecutePreprocessor.timeout=-1 --output-dir "$out" --output face_generation.out.ipynb
# The run folder this execution wrote to: the one whose summary.json is newest.
run=$(ls -td "$out"/runs/*/ 2>/dev/null | head -1)
made=()
for f in samples.png losses.png progress.gif summary.json; do
  if [ -n "$run" ] && [ -f "$run$f" ]; then made+=("$f"); fi
done
echo "Done: the executed notebook is $out/face_generation.out.ipynb; the run's files are in ${run:-$out/runs/} (${made[*]})"
