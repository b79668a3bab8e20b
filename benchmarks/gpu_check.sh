#!/usr/bin/env bash
# One short GPU check, prepared for a session that is lent an accelerator (the `device` tool):
#
#   run(command="bash benchmarks/gpu_check.sh data/features/target", carry=["data/features/target"])
#
# The device image has torch, torchaudio, pandas and scikit-learn but not librosa or soundfile;
# training reads only the carried feature store (the synthetic target store is about 35 MB, under
# the 64 MiB carry limit). For each GPU preset it prints segments/s of the real training loop (crops
# from the store) beside pure compute on random tensors, without and with torch.compile: the table
# for docs/benchmarks.md, with the card's name. Target: the real loop at >= 70 % of pure compute.
set -euo pipefail
cd "$(dirname "$0")/.."
FEATURES="${1:-data/features/target}"
BATCH="${BATCH:-256}"
STEPS="${STEPS:-30}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
for preset in cnn2d cnn2d-large tdnn tdnn-large; do
  for compile in "" "--compile"; do
    echo "## $preset batch $BATCH ${compile:-(eager)}"
    timeout 240 python benchmarks/bench_train.py --device cuda --features "$FEATURES" --presets "$preset" \
      --batch "$BATCH" --steps "$STEPS" $compile | tail -n 1 || echo "| $preset | failed or timed out |"
  done
done
