import dataclasses
import json
from pathlib import Path

import jax
import pytest

from shared import bench, model, runtime


@pytest.mark.parametrize("scan_layers", [True, False])
@pytest.mark.parametrize("name", ["2-digit (06)", "3-digit cpu", "3-digit t4"])
def test_flop_count_matches_the_traced_program(name, scan_layers):
    """The FLOPs counted from shapes equal the matmul FLOPs of the program JAX traces, exactly: for the
    forward pass, and for a whole training step (backward = 2 x forward)."""
    config, seq_len = bench.model_configs()[name]
    config = dataclasses.replace(config, scan_layers=scan_layers)
    step, carry = bench.adamw_train_step(config, batch_size=4)
    batch = bench.random_batch(config, 4, seq_len)
    tokens = 4 * seq_len
    forward = bench.matmul_flops(lambda p, x: model.forward(p, x, config), carry[0], batch["x"])
    assert forward == bench.forward_flops_per_token(config, seq_len) * tokens
    assert bench.matmul_flops(step, carry, batch) == bench.train_flops_per_token(config, seq_len) * tokens


def test_matmul_flops_counts_scan_iterations():
    x = jax.numpy.ones((8, 16))
    def looped(x):
        return jax.lax.scan(lambda h, _: (h @ jax.numpy.ones((16, 16)), None), x, None, length=5)[0]
    assert bench.matmul_flops(looped, x) == 5 * 2 * 8 * 16 * 16


def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert {"hardware", "matmul_peak", "memory_bandwidth", "train_step", "epoch", "decoding", "time_to_100"} <= set(results)
    assert results["hardware"] == runtime.hardware_line()
    for runs in results["train_step"].values():
        assert runs["scan"]["params"] == runs["unrolled"]["params"] > 0
        assert all(runs[kind]["step_seconds"] > 0 and 0 < runs[kind]["utilisation"] for kind in ("scan", "unrolled"))
    assert results["decoding"]["same_tokens"] is True
    assert results["epoch"]["steps_per_epoch"] == 10            # 320 quick rows / batch 32
    assert set(results["time_to_100"]) == set(bench.time_to_100_recipes())
    assert all([run["seed"] for run in race["runs"]] == [0] for race in results["time_to_100"].values())


def test_only_some_benchmarks_added_to_earlier_results_keep_the_rest_and_its_peak(tmp_path, capsys):
    out = tmp_path / "bench.json"
    earlier = {"hardware": runtime.hardware_line(), "sizes": dataclasses.asdict(bench.QUICK), "devices": 1,
               "matmul_peak": {"flop_per_s": 1e9}, "decoding": {"kept": True}}
    out.write_text(json.dumps(earlier))
    assert bench.main(["--quick", "--only", "epoch", "--add", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["decoding"] == {"kept": True} and results["matmul_peak"] == {"flop_per_s": 1e9}
    assert results["epoch"]["steps_per_epoch"] == 10 and "time_to_100" not in results
    out.write_text(json.dumps({**earlier, "hardware": "another machine"}))
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--only", "epoch", "--add", "--out", str(out)])
    assert "write to another file" in capsys.readouterr().err


def test_some_recipes_raced_and_added_to_earlier_races_keep_the_others(tmp_path, capsys):
    """``--recipes`` races only the recipes named, saves after each, and ``--add`` keeps the other recipes'
    earlier races; a recipe name that does not exist is a clear error, not a KeyError."""
    out, fastest = tmp_path / "bench.json", list(bench.time_to_100_recipes())[-1]
    earlier = {"hardware": runtime.hardware_line(), "sizes": dataclasses.asdict(bench.QUICK), "devices": 1,
               "matmul_peak": {"flop_per_s": 1e9}, "time_to_100": {"06 masked rung": {"kept": True}}}
    out.write_text(json.dumps(earlier))
    assert bench.main(["--quick", "--only", "time_to_100", "--recipes", fastest, "--add", "--out", str(out)]) == 0
    races = json.loads(out.read_text())["time_to_100"]
    assert set(races) == {"06 masked rung", fastest} and races["06 masked rung"] == {"kept": True}
    assert [run["seed"] for run in races[fastest]["runs"]] == list(bench.QUICK.seeds)
    for bad in (["--recipes", "no such recipe"], ["--only", "epoch", "--recipes", fastest]):
        with pytest.raises(SystemExit):
            bench.main(["--quick", "--out", str(out), *bad])
    err = capsys.readouterr().err
    assert "invalid choice: 'no such recipe'" in err and "--only leaves out" in err


def test_quick_benchmark_never_writes_into_figures(monkeypatch, capsys):
    before = {p: p.stat().st_mtime for p in (runtime.REPO_ROOT / "figures").glob("*")}
    monkeypatch.setattr(bench, "run", lambda sizes, **kwargs: {"hardware": "h", "sizes": dataclasses.asdict(sizes)})
    assert bench.main(["--quick"]) == 0
    written = capsys.readouterr().out.split("wrote ")[-1].strip()
    assert runtime.REPO_ROOT / "figures" not in Path(written).parents
    assert before == {p: p.stat().st_mtime for p in (runtime.REPO_ROOT / "figures").glob("*")}


def test_quick_outputs_are_removed_when_the_process_exits():
    import subprocess
    import sys
    script = "from shared import runtime; p = runtime.scratch_dir('catculator-test-'); (p / 'f').write_text('x'); print(p)"
    done = subprocess.run([sys.executable, "-c", script], cwd=runtime.REPO_ROOT, capture_output=True, text=True, check=True)
    path = Path(done.stdout.strip())
    assert path.name.startswith("catculator-test-") and not path.exists()


def test_folders_of_killed_processes_are_removed_when_the_next_one_is_made():
    import os
    import subprocess
    import sys
    import tempfile
    # a process that makes its folder and is killed before its exit handlers run (as nbval kills a kernel)
    script = ("import os, signal; from shared import runtime; p = runtime.scratch_dir('catculator-test-'); "
              "print(p, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", script], cwd=runtime.REPO_ROOT, capture_output=True, text=True)
    left = Path(done.stdout.strip())
    assert left.exists() and left.name.startswith("catculator-test-")
    unrelated = Path(tempfile.mkdtemp(prefix="catculator-test-nopid-"))      # no process id: not ours to remove
    mine = runtime.scratch_dir("catculator-test-")
    assert not left.exists() and mine.exists() and unrelated.exists()
    assert mine.name.startswith(f"catculator-test-{os.getpid()}-")
    unrelated.rmdir()


def test_quick_sweep_writes_its_races(tmp_path):
    out = tmp_path / "sweep.json"
    assert bench.main(["--sweep", "--quick", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["grid"] == json.loads(json.dumps(bench.SWEEP))
    (name, race), = results["races"].items()
    assert name in bench.sweep_recipes() and [run["seed"] for run in race["runs"]] == [0]


def test_time_to_100_recipes_change_one_thing_at_a_time():
    """Each raced recipe differs from the one before in one of: number format, position encoding, schedule, depth."""
    recipes = list(bench.time_to_100_recipes().values())
    for (m0, t0, f0), (m1, t1, f1) in zip(recipes, recipes[1:]):
        changes = [f0 != f1, m0.pos_encoding != m1.pos_encoding, t0 != t1, m0.n_layers != m1.n_layers]
        assert sum(changes) == 1 and dataclasses.replace(m1, pos_encoding=m0.pos_encoding, n_layers=m0.n_layers) == m0
