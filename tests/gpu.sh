#!/usr/bin/env bash
# Every GPU check of the series in one call to a lent GPU machine, whose minutes are few (README, "On a GPU"):
#   1. the two fastest recipes of the race to 100% (notebook 09), alone on the machine, so their times are fair;
#   2. the unit tests and every notebook in quick mode (nbval), a few at a time on the one GPU: pass or fail;
#   3. the rest of the race, with what time is left (each recipe is saved as soon as it is done).
# There (the repository root; the notebook tools carried as wheels in .wheels/, see the README):
#     OUT=folder bash tests/gpu.sh [seconds the whole script may take, default 540]
# Writes into $OUT: bench_gpu.json (python -m shared.bench's format) and gpu_checks.txt (the machine, one
# line per job with its exit status and seconds, then the end of each failed job's log).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder the results go to}"
PYTHON=${PYTHON:-python3}
NOTEBOOKS=${NOTEBOOKS:-notebooks/[0-9]*.ipynb}     # which notebooks, in the order they start
JOBS=${JOBS:-5}                                    # jobs at a time: the unit tests and 4 notebooks
RACE=${RACE:-1}                                    # 0: no race to 100%
deadline=$(( $(date +%s) + ${1:-540} ))
left() { echo $(( deadline - $(date +%s) )); }
export XLA_PYTHON_CLIENT_PREALLOCATE=false        # many processes share the one GPU: each takes what it needs
report="$OUT/gpu_checks.txt" logs=$(mktemp -d)
{ nvidia-smi -L 2>&1 || true; "$PYTHON" -c "from shared import runtime; print(runtime.hardware_line())"; } > "$report"

if [ -d .wheels ]; then
    "$PYTHON" -m pip install -q --no-index --find-links .wheels nbval nbconvert ipykernel ipywidgets > "$logs/pip" 2>&1 \
        && "$PYTHON" -m ipykernel install --user > /dev/null 2>&1 || { echo "installing the wheels failed:"; tail -5 "$logs/pip"; } >> "$report"
fi

race() {  # race RECIPE...: the named recipes of the race to 100%, added to $OUT/bench_gpu.json if it exists
    local started=$(date +%s) limit=$(( $(left) - 5 )) add=()
    [ -f "$OUT/bench_gpu.json" ] && add=(--add)
    timeout "$limit" "$PYTHON" -m shared.bench --only time_to_100 --out "$OUT/bench_gpu.json" "${add[@]}" \
        --recipes "$@" > "$logs/race" 2>&1
    local status=$?
    echo "race to 100% ($(printf "'%s' " "$@")): exit status $status, $(( $(date +%s) - started )) s (limit ${limit} s)" >> "$report"
    [ $status -eq 0 ] || tail -c 2000 "$logs/race" >> "$report"
}

# 1. The fastest recipes, alone. At most 150 s, so the notebooks keep their time.
if [ "$RACE" = 1 ]; then
    deadline_all=$deadline; deadline=$(( $(date +%s) + 150 ))
    race "+ 1 layer" "+ short schedule"
    deadline=$deadline_all
fi

# 2. The unit tests (4 workers), then every notebook in quick mode, $JOBS jobs at a time (15 at once on 16 cores
# was too many: every job slowed down); each job stops at the deadline (less 90 s when the race goes on after).
# Compiling for the GPU takes seconds per program, and notebooks 02-06 compile the same ones: the jobs share
# JAX's persistent compilation cache (not the race, whose times must include compiling; not yet tried there).
limit=$(( $(left) - (RACE == 1 ? 90 : 5) ))
job() {  # job NAME COMMAND...: run it with the time limit, log it, write its one line for the report
    local name=$1 started=$(date +%s); shift
    CATCULATOR_QUICK=1 JAX_COMPILATION_CACHE_DIR="$logs/jax-cache" timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    local status=$?
    echo "$name: exit status $status, $(( $(date +%s) - started )) s" > "$logs/$name.status"
}
names=(unit-tests)
workers=(); "$PYTHON" -c "import xdist" 2>/dev/null && workers=(-n 4)
job unit-tests "$PYTHON" -m pytest tests -v "${workers[@]}" -p no:cacheprovider &
for notebook in $NOTEBOOKS; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    limit=$(( $(left) - (RACE == 1 ? 90 : 5) ))
    [ "$limit" -gt 30 ] || { echo "$notebook: not started, too little time left" >> "$report"; continue; }
    name=$(basename "$notebook" .ipynb); names+=("$name")
    job "$name" "$PYTHON" -m pytest "$notebook" --nbval-lax -p no:cacheprovider &
done
wait
echo "unit tests and notebooks in quick mode, $JOBS at a time:" >> "$report"
for name in "${names[@]}"; do cat "$logs/$name.status" >> "$report"; done

# 3. The other recipes, as long as time is left (each saved when done).
[ "$RACE" = 1 ] && race "+ learned positions" "+ reversed answer" "06 masked rung"

for name in "${names[@]}"; do
    if ! grep -q "exit status 0," "$logs/$name.status"; then
        { echo; echo "===== $name: failures, then the end of its log ====="; grep -E "FAILED|ERROR" "$logs/$name.log" | head -20
          tail -c 3000 "$logs/$name.log"; } >> "$report"
    fi
done
echo "done, $(left) s before the deadline" >> "$report"
