#!/usr/bin/env bash
# What only a GPU can show, measured in under 8 minutes, written to docs/gpu.md:
# nvidia-smi, the GPU tests (float16 loss scaling, XLA, MirroredStrategy over every visible
# GPU), training throughput of every model at its preset with its extractor fine-tuned, in
# float32, float16 and bfloat16, without and with XLA, and decoding throughput. Each part
# runs under its own time limit; what a part measured before its limit still goes in.
#
#   bash scripts/gpu_check.sh                          # on the GPU machine, from anywhere
#   GPU_CHECK_OUT=/tmp/gpu.md bash scripts/gpu_check.sh
#   TFREPORT_GPU_CHECK_TINY=1 GPU_CHECK_OUT=/tmp/gpu.md bash scripts/gpu_check.sh   # CPU smoke run
#
# Environment:
#   GPU_CHECK_OUT            the markdown to write (default docs/gpu.md)
#   TFREPORT_GPU_CHECK_TINY  1: tiny models, steps and limits' work, for a CPU (the test's run)
#   GPU_CHECK_VENV           the virtual environment to use or create (default .venv); an
#                            active one, or a python3 that imports TensorFlow, is used as is
#   GPU_CHECK_INSTALL        0: never pip install (default 1: create the venv from
#                            requirements-gpu.txt when none has TensorFlow, and add the CUDA
#                            wheels when nvidia-smi works but TensorFlow sees no GPU)
#   GPU_CHECK_MODELS         models to measure (default: all five)
#   GPU_CHECK_WORK           the folder for each part's log (default: a new temporary one)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${GPU_CHECK_OUT:-docs/gpu.md}
TINY=${TFREPORT_GPU_CHECK_TINY:-0}
INSTALL=${GPU_CHECK_INSTALL:-1}
VENV=${GPU_CHECK_VENV:-.venv}
WORK=${GPU_CHECK_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}
mkdir -p "$WORK"
START=$(date +%s)
COMMAND="cd $ROOT && TFREPORT_GPU_CHECK_TINY=$TINY GPU_CHECK_OUT=$OUT bash scripts/gpu_check.sh"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
say() { echo "[gpu_check $(( $(date +%s) - START ))s] $*"; }

# -- a Python with TensorFlow (installing is outside the 8 minutes: minutes and ~3 GB) ------
PIP_QUICK=(--retries 1 --timeout 20)  # no network: fail in seconds, not minutes
if [ -n "${VIRTUAL_ENV:-}" ]; then
  say "using the active environment $VIRTUAL_ENV"; PY=python
elif [ -x "$VENV/bin/python" ]; then
  # shellcheck disable=SC1091
  . "$VENV/bin/activate" && say "using $VENV"; PY=python
elif python3 -c "import tensorflow" >/dev/null 2>&1; then
  say "using $(command -v python3) (it imports TensorFlow)"; PY=python3
elif [ "$INSTALL" = 1 ] && [ "$TINY" != 1 ]; then
  say "creating $VENV from requirements-gpu.txt (TensorFlow with its CUDA wheels)"
  # shellcheck disable=SC1091
  python3 -m venv "$VENV" && . "$VENV/bin/activate" \
    && timeout 1200 pip install -q "${PIP_QUICK[@]}" -r requirements-gpu.txt \
    || { echo "gpu_check: could not create $VENV from requirements-gpu.txt (no network?)" >&2; exit 2; }
  PY=python
else
  echo "gpu_check: no Python with TensorFlow; create one: python3 -m venv $VENV &&" \
       ". $VENV/bin/activate && pip install -r requirements-gpu.txt" >&2
  exit 2
fi
# a virtual environment whose TensorFlow lacks the CUDA wheels on a machine with a driver
if [ "$TINY" != 1 ] && [ "$INSTALL" = 1 ] && [ -n "${VIRTUAL_ENV:-}" ] && command -v nvidia-smi >/dev/null \
   && ! "$PY" -c "import tensorflow as tf, sys; sys.exit(not tf.config.list_physical_devices('GPU'))" >/dev/null 2>&1; then
  say "nvidia-smi works but TensorFlow sees no GPU: adding the CUDA wheels (requirements-gpu.txt)"
  timeout 1200 "$PY" -m pip install -q "${PIP_QUICK[@]}" -r requirements-gpu.txt \
    || say "pip install failed; going on (the report will say the GPU tests were skipped)"
fi

# -- the parts ---------------------------------------------------------------------------
# part NAME LIMIT_S COMMAND...: the output goes to the screen and WORK/NAME.log, and
# "exit_code seconds limit" to WORK/NAME.status (exit 124: stopped at the limit).
part() {
  local name=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s)
  say "$name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$WORK/$name.log"
  rc=${PIPESTATUS[0]}
  echo "$rc $(( $(date +%s) - t0 )) $limit" > "$WORK/$name.status"
}
rm -f "$WORK"/*.log "$WORK"/*.status "$WORK/training.jsonl"

if [ "$TINY" = 1 ]; then
  MODELS=${GPU_CHECK_MODELS:-cnn_rnn}
  PRECISIONS="float32 bfloat16"; XLA_PRECISIONS="float32"
  SIZE=(--preset demo --batch_size 2 --image_size 32 --model_option backbone_width=8 --steps 1 --warmup 1)
  DECODING=(--preset demo --models m2_transformer --beam_sizes 1 --length 8 --batch_size 2 --repeats 1)
  T_TESTS=120; T_TRAIN=240; T_XLA=180; T_DECODE=120
else
  MODELS=${GPU_CHECK_MODELS:-cnn_rnn cnn_rnn_att hier_rnn mrna m2_transformer}
  PRECISIONS="float32 float16 bfloat16"; XLA_PRECISIONS="float16 bfloat16 float32"
  SIZE=(--steps 5 --warmup 2)
  DECODING=()
  # 8 minutes: ~20 s to start, 100 + 140 + 100 + 60 s of parts, ~15 s for the report
  T_TESTS=100; T_TRAIN=140; T_XLA=100; T_DECODE=60
fi
# shellcheck disable=SC2206
MODEL_ARGS=(--models $MODELS)

part hardware 60 "$PY" -c "from tfreport import hardware; print(hardware.one_line(hardware.describe()))"
if command -v nvidia-smi >/dev/null; then
  part nvidia_smi 30 nvidia-smi
else
  echo "nvidia-smi: not found on PATH (no NVIDIA driver on this machine)" > "$WORK/nvidia_smi.log"
  echo "127 0 30" > "$WORK/nvidia_smi.status"
fi
part tests "$T_TESTS" "$PY" -m pytest tests/test_gpu.py -m gpu -q -rA -p no:randomly -p no:cacheprovider
# shellcheck disable=SC2086
part training "$T_TRAIN" "$PY" -m tfreport bench-training --fine_tune --precisions $PRECISIONS \
  --xla off "${MODEL_ARGS[@]}" "${SIZE[@]}" --json_out "$WORK/training.jsonl"
# XLA one precision at a time, every model each, until its time is spent: float16 first, the
# GPU's usual choice, so at least that column is whole
xla_start=$(date +%s); xla_rc=0
for precision in $XLA_PRECISIONS; do
  left=$(( T_XLA - ($(date +%s) - xla_start) ))
  if [ "$left" -le 5 ]; then xla_rc=124; break; fi  # out of time: later precisions not reached
  part training_xla_part "$left" "$PY" -m tfreport bench-training --fine_tune --precisions "$precision" \
    --xla on "${MODEL_ARGS[@]}" "${SIZE[@]}" --json_out "$WORK/training.jsonl"
  read -r xla_rc _ < "$WORK/training_xla_part.status"
  [ "$xla_rc" = 0 ] || break
done
echo "$xla_rc $(( $(date +%s) - xla_start )) $T_XLA" > "$WORK/training_xla.status"
[ -f "$WORK/training_xla_part.log" ] && mv "$WORK/training_xla_part.log" "$WORK/training_xla.log"
rm -f "$WORK/training_xla_part.status"
part decoding "$T_DECODE" "$PY" -m tfreport bench-decoding ${DECODING[@]+"${DECODING[@]}"}

tiny_flag=(); [ "$TINY" = 1 ] && tiny_flag=(--tiny)
case "$OUT" in *://*) ;; *) mkdir -p "$(dirname "$OUT")" ;; esac
timeout 120 "$PY" -m tfreport.experiments.gpu_check --work "$WORK" --out "$OUT" \
  --command "$COMMAND" --seconds $(( $(date +%s) - START )) ${tiny_flag[@]+"${tiny_flag[@]}"} \
  || { echo "gpu_check: could not write $OUT (the parts' logs are in $WORK)" >&2; exit 1; }
say "done in $(( $(date +%s) - START )) s; wrote $OUT (logs in $WORK)"
