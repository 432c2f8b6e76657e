#!/usr/bin/env bash
# One device call for the runs only a GPU finishes in a session (README "Running on a GPU"):
# benchmarks/gpu_check.py beside the sweeps of the book's autoencoder blocks (chapters 6-7's,
# then chapter 8's thesis-protocol block, rho = 100 first), all under one deadline, each sweep
# into a side table that skips what the committed tables hold. The side tables and the check's
# report land in $OUT (at most 8 files); merge them here with `imbnb merge`.
#
#   IMBNB_COMMIT=<commit> BUDGET=<seconds> OUT=<dir> bash benchmarks/gpu_session.sh
#
# from the root of a tree copied with gpu-bundle/ (make gpu-bundle). BUDGET is the sweeps'
# deadline; the check, the imports and the copies add about a minute. PY=python on a CPU and
# CHECK_ARGS=--dry-run try the whole script in a few minutes (runs are stopped at the deadline).
set -u
R=$PWD; PY=${PY:-python3}; BUDGET=${BUDGET:-480}; END=$(( $(date +%s) + BUDGET ))
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3 PYTHONPATH=$R/src:$R/gpu-bundle/site
export IMBNB_DATA=$R/gpu-bundle/data/fashion-mnist IMBNB_CACHE=/tmp/imbnb-cache
export IMBNB_COMMIT=${IMBNB_COMMIT:?the commit this tree was copied from}
OUT=${OUT:?the folder the results go to}; SIDE=${SIDE:-/tmp/imbnb-gpu}
left() { echo $(( END - $(date +%s) )); }
log() { echo "[$(date -u +%T)] $*"; }
mkdir -p "$SIDE"
nvidia-smi -L 2>/dev/null
$PY -c "import imbnb.experiments, imblearn, sklearn, torch; print('sklearn', sklearn.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 3
$PY benchmarks/gpu_check.py --no-tests --workers-list 1 ${CHECK_ARGS:-} --out "$OUT/gpu_check.json" > "$OUT/gpu_check.log" 2>&1 &
check=$!
sweep() {  # TABLE WORKERS SELECTION...: one sweep into $SIDE/TABLE.parquet until the deadline
  local table=$1 workers=$2; shift 2
  [ "$(left)" -gt 60 ] || return 0
  log "$table $* starts"
  timeout -k 30 "$(left)" $PY -m imbnb.cli sweep "book/grids/$table.yaml" --store "$SIDE/$table.parquet" \
    --skip-stored "book/data/results/$table.parquet" --workers "$workers" --no-progress "$@"
  log "$table $* ends rc $?"
}
# separate sweeps: a failing run stops only its own
sweep chapters 2 --only DeepSMOTE > "$SIDE/penalty.log" 2>&1 &
a=$!
sweep chapters 1 --only DeepDenoising+WC > "$SIDE/wc.log" 2>&1 &
b=$!
(for r in 100 40 20 10; do sweep paper 2 --only generative --where protocol=minority --where ratio=$r; done) > "$SIDE/paper.log" 2>&1 &
c=$!
wait $a $b $c
log "sweeps done, $(left) s before the deadline"
wait $check; log "check rc $?"
cat "$SIDE"/penalty.log "$SIDE"/wc.log "$SIDE"/paper.log > "$OUT/sweeps.log"
for table in chapters paper; do
  [ -e "$SIDE/$table.parquet" ] || [ -d "$SIDE/$table.runs" ] || { log "$table: no new rows"; continue; }
  $PY -m imbnb.cli store compact "$SIDE/$table.parquet" && cp "$SIDE/$table.parquet" "$OUT/$table-gpu.parquet" \
    && cp "$SIDE/$table.provenance.json" "$OUT/$table-gpu.provenance.json"
done
ls -l "$OUT"
log "end"
