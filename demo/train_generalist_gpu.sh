#!/usr/bin/env bash
# The generalist arms of a GPU session, side by side on one GPU (16 CPU cores draw patches):
# the shipped network trained on from its weights at widths 16, 24 and 32 (the wider ones start
# as the shipped network, widened) and width 32 from scratch, at the same budget: is width the
# limit? Each arm is a run folder OUT/ARM with its log OUT/ARM.log.
#   demo/train_generalist_gpu.sh SOURCES OUT MINUTES [WORKERS_PER_ARM]
# SOURCES: a folder written by `python demo/train_generalist.py --pack SOURCES`.
set -euo pipefail
sources=$1 out=$2 minutes=$3 workers=${4:-3}
mkdir -p "$out"
common=(--shared "$sources" --minutes "$minutes" --batch-size 64 --workers "$workers")
shipped=src/vemrestore/pretrained/generalist_unet2p5d.pt
arm() {
    local name=$1
    shift
    "${PYTHON:-python3}" demo/train_generalist.py "${common[@]}" --out "$out/$name" "$@" >"$out/$name.log" 2>&1 &
}
arm w16_from_shipped --width 16 --init "$shipped" --lr 3e-4 --seed 7
arm w24_from_shipped --width 24 --init "$shipped" --lr 3e-4 --seed 7
arm w32_from_shipped --width 32 --init "$shipped" --lr 3e-4 --seed 7
arm w32_scratch --width 32 --lr 1e-3 --seed 8
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
exit $status
