"""Data parallelism: the same training run on 8 simulated CPU devices and on 1 device ends with the same
parameters. Each run is a fresh Python process, because XLA reads the device count once, at start-up."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from shared import parallel

REPO = Path(__file__).resolve().parents[1]

TRAIN_A_FEW_STEPS = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from shared import data, model, parallel, train
    config = model.ModelConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64, pos_encoding="rope")
    train_split, test_split = data.make_dataset()
    train_split = data.Split(*(part[:512] for part in train_split))   # 512 rows: 8 steps of 64 per epoch
    params, history = train.train(config, train.TrainConfig(optimizer="adamw", learning_rate=3e-3, batch_size=64,
                                  epochs=2, loss="masked"), train_split, test_split, progress=False)
    leaves = jax.tree_util.tree_leaves(params)
    devices_holding_params = len(leaves[0].sharding.device_set)
    try:   # a batch that does not split over the devices is refused with a clear message
        train.train(config, train.TrainConfig(batch_size=60, epochs=1), train_split, test_split, progress=False)
        refused = "accepted"
    except ValueError as error:
        refused = "refused" if "multiple of" in str(error) else "unclear"
    print(jax.device_count(), devices_holding_params, refused, *history.train_loss)
    np.savez(sys.argv[1], *[np.asarray(leaf) for leaf in leaves])
""")


def run_on(devices: int, out: Path) -> list[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO),
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    done = subprocess.run([sys.executable, "-c", TRAIN_A_FEW_STEPS, str(out)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_eight_devices_match_one(tmp_path):
    one = run_on(1, tmp_path / "one.npz")
    eight = run_on(8, tmp_path / "eight.npz")
    assert one[:3] == ["1", "1", "accepted"]      # one device: any batch size splits
    assert eight[:3] == ["8", "8", "refused"]     # 8 devices seen, parameters replicated on all 8, batch 60 refused
    with np.load(tmp_path / "one.npz") as a, np.load(tmp_path / "eight.npz") as b:
        assert len(a.files) == len(b.files) > 0
        for name in a.files:
            np.testing.assert_allclose(a[name], b[name], atol=1e-5, rtol=0)
    losses_one, losses_eight = [float(v) for v in one[3:]], [float(v) for v in eight[3:]]
    assert losses_one[-1] < losses_one[0]          # training really moved (else matching would prove nothing)
    assert losses_eight == pytest.approx(losses_one, abs=1e-5)


def test_one_device_mesh():
    mesh = parallel.data_mesh()
    assert mesh.axis_names == ("data",) and mesh.size == len(jax.local_devices())
