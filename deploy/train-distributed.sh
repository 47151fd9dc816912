#!/usr/bin/env bash
# Train a pipeline on several GPUs, or several machines, with torchrun.
#
# One machine, every GPU:
#   deploy/train-distributed.sh configs/chatbotdata.yaml models/chatbotdata
# Two machines with 4 GPUs each: run on both, with the same rendezvous address and job id:
#   NNODES=2 NPROC=4 RDZV_ENDPOINT=trainer-0.internal:29500 JOB_ID=chatbot-2026-11-21 \
#     deploy/train-distributed.sh configs/chatbotdata.yaml models/chatbotdata
# On CPU (gloo), for a try: DEVICE=cpu NPROC=2 deploy/train-distributed.sh CONFIG OUT
# Options after OUT go to `chatbot train` (--quiet, --set key=value, ...).
#
# Each process reads the datasets itself ($CHATBOT_DATA_DIR on every machine); rank 0 writes
# OUT. --resume continues from OUT.checkpoints after an interruption (RESUME=1).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG OUT [TRAIN OPTIONS]   (env: NNODES NPROC RDZV_ENDPOINT JOB_ID" \
       "DEVICE RESUME)" >&2
  exit 2
fi
config=$1
out=$2
shift 2
nnodes=${NNODES:-1}
nproc=${NPROC:-gpu}
device=${DEVICE:-cuda}
resume=()
if [ "${RESUME:-0}" = "1" ]; then
  resume=(--resume)
fi

if [ "$nnodes" = "1" ]; then
  rendezvous=(--standalone)
else
  if [ -z "${RDZV_ENDPOINT:-}" ] || [ -z "${JOB_ID:-}" ]; then
    echo "several machines need RDZV_ENDPOINT (host:port all of them reach) and JOB_ID" >&2
    exit 2
  fi
  rendezvous=(--rdzv_backend c10d --rdzv_endpoint "$RDZV_ENDPOINT" --rdzv_id "$JOB_ID")
fi

exec torchrun --nnodes "$nnodes" --nproc_per_node "$nproc" "${rendezvous[@]}" \
  -m chatbot.cli train "$config" --out "$out" --device "$device" "${resume[@]}" "$@"
