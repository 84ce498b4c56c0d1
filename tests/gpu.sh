#!/usr/bin/env bash
# Every GPU check of the series in one call to a lent GPU machine, whose minutes are few (README, "On a GPU"):
#   1. recipes of the race to 100% (notebook 09), alone on the machine, so their times are fair;
#   2. the unit tests and every notebook in quick mode (nbval), a few at a time on the one GPU: pass or fail,
#      and how many programs each notebook compiled, in how many seconds (tests/compile_profile.py);
#   3. more recipes of the race, with what time is left (each recipe is saved as soon as it is done).
# There (the repository root; the notebook tools and pytest-xdist carried as wheels in .wheels/):
#     OUT=folder bash tests/gpu.sh [seconds the whole script may take, default 540]
# The wheels (21 MB, for the GPU machine's Python 3.12; .gitignore keeps them out of git, the call carries them), here:
#     pip download -d .wheels --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#         --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any \
#         nbval nbconvert ipykernel nbformat jupyter_client ipywidgets pytest-xdist
# Settings, from the environment:
#     NOTEBOOKS   which notebooks, in the order they start (default: the most compiling first, from the
#                 2-core CPU's profile in figures/quick_mode_compiles_cpu.json; empty: none)
#     JOBS        jobs at a time, the unit tests included (default 3)
#     UNIT        0: no unit tests
#     RACE_FIRST, RACE_LATER   recipes for steps 1 and 3, separated by ';' (empty: none)
#     RACE_INTO   a committed race of the same GPU kind to add to (bench --add checks the hardware line)
#     WHEELS      the folder of wheels to install first (default .wheels; none there: nothing installed)
# Writes into $OUT: bench_gpu.json (python -m shared.bench's format), quick_mode_gpu.json
# (tests/compile_profile.py's format) and gpu_checks.txt (the machine, one line per job, then the end of
# each failed job's log).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder the results go to}"
PYTHON=${PYTHON:-python3}
NOTEBOOKS=${NOTEBOOKS-$(for n in 10 11 02 09 14 12 13 03 07 06 05 04 08 01; do echo notebooks/${n}_*.ipynb; done)}
JOBS=${JOBS:-3}
UNIT=${UNIT:-1}
RACE_FIRST=${RACE_FIRST-"+ 1 layer;+ short schedule"}
RACE_LATER=${RACE_LATER-"+ learned positions;+ reversed answer;06 masked rung"}
deadline=$(( $(date +%s) + ${1:-540} ))
left() { echo $(( deadline - $(date +%s) )); }
export XLA_PYTHON_CLIENT_PREALLOCATE=false        # many processes share the one GPU: each takes what it needs
report="$OUT/gpu_checks.txt" logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT                # the jobs' logs and compilation cache: what matters is in $OUT
{ nvidia-smi -L || true; "$PYTHON" -c "from shared import runtime; print(runtime.hardware_line())"; } > "$report" 2>&1
if [ -n "${RACE_INTO:-}" ]; then   # add to it only if it was measured on this very hardware line (bench --add's rule)
    "$PYTHON" -c "import json, sys; from shared import runtime; sys.exit(json.load(open(sys.argv[1]))['hardware'] != runtime.hardware_line())" "$RACE_INTO" \
        && cp "$RACE_INTO" "$OUT/bench_gpu.json" || echo "$RACE_INTO: another machine or version; the race starts a new file" >> "$report"
fi

WHEELS=${WHEELS:-.wheels}
if [ -d "$WHEELS" ]; then
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" nbval nbconvert ipykernel ipywidgets pytest-xdist > "$logs/pip" 2>&1 \
        && "$PYTHON" -m ipykernel install --sys-prefix > /dev/null 2>&1 || { echo "installing the wheels failed:"; tail -5 "$logs/pip"; } >> "$report"
fi

race() {  # race 'RECIPE;RECIPE...' SECONDS: those recipes of the race to 100%, added to $OUT/bench_gpu.json if it exists
    [ -n "$1" ] || return 0
    local started=$(date +%s) limit=$2 add=() recipes=()
    [ "$limit" -gt 30 ] || { echo "race to 100% ($1): not started, too little time left" >> "$report"; return 0; }
    IFS=';' read -r -a recipes <<< "$1"
    [ -f "$OUT/bench_gpu.json" ] && add=(--add)
    timeout "$limit" "$PYTHON" -m shared.bench --only time_to_100 --out "$OUT/bench_gpu.json" "${add[@]}" \
        --recipes "${recipes[@]}" > "$logs/race" 2>&1
    local status=$?
    echo "race to 100% ($1): exit status $status, $(( $(date +%s) - started )) s (limit ${limit} s)" >> "$report"
    [ $status -eq 0 ] || tail -c 2000 "$logs/race" >> "$report"
}

# 1. The first recipes, alone, in at most 150 s, so the notebooks keep their time.
race "$RACE_FIRST" 150

# 2. The unit tests (4 workers) and every notebook in quick mode, $JOBS jobs at a time (15 at once on 16
# cores was too many: every job slowed down); each job stops at the deadline (less 90 s when the race goes
# on after). Quick mode is compiling, mostly (figures/quick_mode_compiles_cpu.json: notebook 02 compiles
# 893 programs), and a GPU compiles each more slowly than a CPU. So here XLA does not autotune (it would
# time candidate kernels for every matrix product: worth it for speed, not for a pass/fail check), and the
# jobs share JAX's persistent compilation cache, small programs too (on the CPU, notebook 03 found 209 of
# its 338 programs in the cache notebook 02 had left). The race's times include compiling: no cache there.
xla_flags_before=${XLA_FLAGS-}
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_autotune_level=0"
export JAX_COMPILATION_CACHE_DIR="$logs/jax-cache" JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
margin=$([ -n "$RACE_LATER" ] && echo 90 || echo 5)
job() {  # job NAME COMMAND...: run it for at most $limit seconds, log it, write its one line for the report
    local name=$1 started=$(date +%s); shift
    CATCULATOR_QUICK=1 timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    local status=$?
    echo "$name: exit status $status, $(( $(date +%s) - started )) s" > "$logs/$name.status"
}
names=()
if [ "$UNIT" = 1 ]; then
    names+=(unit-tests)
    workers=(); "$PYTHON" -c "import xdist" 2>/dev/null && workers=(-n 4)
    limit=$(( $(left) - margin ))
    # (not tests/test_gpu_script.py: it runs this very script again, a check for the CPU)
    job unit-tests "$PYTHON" -m pytest tests -v "${workers[@]}" -p no:cacheprovider --ignore=tests/test_gpu_script.py &
fi
for notebook in $NOTEBOOKS; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    limit=$(( $(left) - margin ))
    [ "$limit" -gt 30 ] || { echo "$notebook: not started, too little time left" >> "$report"; continue; }
    name=$(basename "$notebook" .ipynb); names+=("$name")
    # stopped 10 s before the job's limit, a notebook still reports what it had compiled by then
    job "$name" "$PYTHON" tests/compile_profile.py --timeout $(( limit - 10 )) --out "$logs/$name.json" "$notebook" &
done
wait
export XLA_FLAGS=$xla_flags_before; unset JAX_COMPILATION_CACHE_DIR JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS
echo "unit tests and notebooks in quick mode, $JOBS at a time:" >> "$report"
for name in "${names[@]}"; do
    cat "$logs/$name.status" >> "$report"
    [ "$name" = unit-tests ] || grep -m1 " programs " "$logs/$name.log" >> "$report"
done
"$PYTHON" -c "import json, sys; json.dump([row for path in sys.argv[1:] for row in json.load(open(path))], open('$OUT/quick_mode_gpu.json', 'w'), indent=1)" \
    $(ls "$logs"/*.json 2>/dev/null)

# 3. The other recipes, as long as time is left (each saved when done).
race "$RACE_LATER" $(( $(left) - 5 ))

for name in "${names[@]}"; do
    if ! grep -q "exit status 0," "$logs/$name.status"; then
        { echo; echo "===== $name: failures, then the end of its log ====="; grep -E "FAILED|ERROR" "$logs/$name.log" | head -20
          tail -c 3000 "$logs/$name.log"; } >> "$report"
    fi
done
echo "done, $(left) s before the deadline" >> "$report"
