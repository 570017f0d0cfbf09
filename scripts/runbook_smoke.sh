#!/usr/bin/env bash
# Every docs/REPRODUCE.md command, run end to end with CPU-sized overrides: IU X-Ray on the
# real report CSVs with grey placeholder images, MIMIC-CXR on a synthetic tree in the
# official layout. It checks that the runbook's commands run, not what they score.
#
#   bash scripts/runbook_smoke.sh [SHARED_DATA_DIR] [WORK_DIR]
#
# SHARED_DATA_DIR holds iu_xray/{indiana_reports.csv, indiana_projections.csv, annotation.json}
# and iu_xray_legacy/{train_split.json, test_split.json} (default ../shared/data).
set -euo pipefail
SHARED=${1:-../shared/data}
WORK=${2:-/tmp/tfreport_runbook}
PY=${PYTHON:-python}
cd "$(dirname "$0")/.."
mkdir -p "$WORK/iu_raw"
step() { echo; echo "=== $*"; }

step "IU X-Ray: real report CSVs, placeholder images"
ln -sf "$(realpath "$SHARED/iu_xray/indiana_reports.csv")" "$WORK/iu_raw/"
ln -sf "$(realpath "$SHARED/iu_xray/indiana_projections.csv")" "$WORK/iu_raw/"
$PY -c "from tfreport.data.faithfulness import placeholder_images as p; \
print(p('$WORK/iu_raw/indiana_projections.csv', '$WORK/iu_raw/images'), 'placeholders')"

step "§2 prepare: legacy and R2Gen splits"
$PY scripts/prepare_data.py --dataset iu_xray --raw_dir "$WORK/iu_raw" --out_dir "$WORK/iu_legacy" \
  --split legacy --legacy_splits "$SHARED/iu_xray_legacy" --image_size 16 --quiet
$PY scripts/prepare_data.py --dataset iu_xray --raw_dir "$WORK/iu_raw" --out_dir "$WORK/iu_r2gen" \
  --split r2gen --r2gen_annotation "$SHARED/iu_xray/annotation.json" --image_size 16 --quiet

SMALL="--epochs 1 --steps_per_epoch 2 --image_size 75 --backbone_weights none --val_samples 20"
SMALL="$SMALL --evaluate_test false --quiet"  # evaluate.py scores the test split next
for m in cnn_rnn cnn_rnn_att hier_rnn mrna; do
  step "§3 train $m (legacy preset) and §4 evaluate with the legacy scoring"
  $PY scripts/train.py --model $m --preset legacy --data_dir "$WORK/iu_legacy" --seed 0 \
    --model_dir "$WORK/models/iu_legacy/$m" --logdir "$WORK/summary" $SMALL
  $PY scripts/evaluate.py --model_dir "$WORK/models/iu_legacy/$m" --split test --legacy_scoring \
    --bootstrap 200 --seed 0
done

step "--backbone_weights imagenet offline: must stop with a clear message"
if $PY scripts/train.py --model cnn_rnn --preset legacy --data_dir "$WORK/iu_legacy" \
    --backbone_weights imagenet --epochs 1 --steps_per_epoch 1 --model_dir "$WORK/models/imagenet" \
    --logdir "$WORK/summary" --quiet; then
  echo "(ImageNet weights were available)"
fi

step "§5 one image-blind run (the committed rows trained longer) and the floors table"
$PY scripts/train.py --model cnn_rnn --preset legacy --data_dir "$WORK/iu_legacy" --image_blind true \
  --trainable_backbone false --feature_cache true --seed 0 --epochs 1 --steps_per_epoch 2 \
  --model_dir "$WORK/blind_runs/legacy/cnn_rnn" --logdir "$WORK/summary" --quiet
$PY scripts/text_baselines.py --shared_dir "$SHARED" --out "$WORK/iu_xray_text" --seeds 2 \
  --bootstrap 100 --image_blind_runs "$WORK/blind_runs"

step "MIMIC-CXR §1 prepare (synthetic tree)"
$PY -c "from tfreport.data import mimic_synthetic as m; m.write_tree('$WORK/mimic_raw', 300, image_size=64, quiet=True)"
$PY scripts/prepare_data.py --dataset mimic_cxr --raw_dir "$WORK/mimic_raw" --out_dir "$WORK/mimic" --quiet

step "MIMIC-CXR §2 pretrain DenseNet121"
$PY scripts/pretrain_backbone.py --backbone densenet121 --data_dir "$WORK/mimic" \
  --out "$WORK/pretrained/densenet121_mimic" --labels dataset --uncertain ones --epochs 1 --image_size 64

DN="$WORK/pretrained/densenet121_mimic"
for bb in resnet50 densenet121 dual; do
  step "MIMIC-CXR §3 train M2 ($bb) and evaluate"
  case $bb in
    resnet50) W=(--backbone_weights none) ;;
    densenet121) W=(--backbone_weights "$DN") ;;
    dual) W=(--backbone_weights none --backbone_weights_dual "$DN") ;;
  esac
  $PY scripts/train.py --model m2_transformer --preset paper --data_dir "$WORK/mimic" --backbone $bb \
    "${W[@]}" --no_text_summaries --seed 0 --model_dir "$WORK/models/mimic/m2_$bb" \
    --logdir "$WORK/summary" --epochs 1 --steps_per_epoch 2 --image_size 64 --val_samples 20 \
    --evaluate_test false --quiet
  $PY scripts/evaluate.py --model_dir "$WORK/models/mimic/m2_$bb" --split test --bootstrap 200 --seed 0
done

step "wall-time estimate"
$PY scripts/estimate_gpu_time.py --models cnn_rnn
echo; echo "runbook smoke: every command ran"
