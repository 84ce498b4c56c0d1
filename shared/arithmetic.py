"""Three-digit arithmetic (+ - * // %) in the fixed-width carry-trace format of notebook 08.

Every example is 28 characters from a 17-token vocabulary (space is a real token):

    123+  45=+800600100000000000        123 + 45 = 168
    999* 999=+108017026818909900        999 * 999 = 998001
    AAA??BBB=S d cc d cc d cc d cc d cc d cc

``AAA`` and ``BBB`` are the operands right-aligned with spaces, ``??`` the two-character operator field
(``+ ``, ``- ``, ``* ``, ``% ``, ``//``), then the sign ``S`` and six chunks, one per result digit from
the least significant up (zero-padded), each followed by two carry-trace digits: the running column
carry of long multiplication for ``*`` (column k's sum of digit products plus the carry in, divided by
10), ``00`` for the other operations. The answer is the last 19 characters.
"""
from __future__ import annotations

import dataclasses
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import parallel
from .data import NUMPY_OPERATION, as_operands
from .evaluate import exact_match, greedy_decode, greedy_decode_cached
from .model import ModelConfig, forward, init_params
from .train import TrainConfig, make_optimizer, make_sampled_steps_fn

VOCAB = "0123456789 +-*%/="
TOKEN_ID = {char: i for i, char in enumerate(VOCAB)}
OPERATIONS = ("+", "-", "*", "//", "%")
OPERATOR_FIELD = {"+": "+ ", "-": "- ", "*": "* ", "//": "//", "%": "% "}
PROMPT_LEN, ANSWER_LEN = 9, 19
SEQ_LEN = PROMPT_LEN + ANSWER_LEN  # 28
ANSWER_MASK = np.arange(SEQ_LEN - 1) >= PROMPT_LEN - 1  # (27,): the targets y = row[1:] that are answer
RESULT_DIGITS = 6
MAX_OPERAND = 999

def decode(ids) -> str:
    """Token ids ``(L,)`` -> the string they spell."""
    return "".join(VOCAB[i] for i in np.asarray(ids))


def _digits(values: np.ndarray, count: int) -> np.ndarray:
    """Non-negative ints (N,) -> their decimal digits (N, count), least significant first."""
    return (values[:, None] // 10 ** np.arange(count)) % 10


def _operand_tokens(values: np.ndarray) -> np.ndarray:
    """Ints 0-999 (N,) -> three tokens each, right-aligned with spaces: (N, 3)."""
    digits = _digits(values, 3)[:, ::-1]                       # most significant first
    length = 1 + (values >= 10) + (values >= 100)              # digits to show; 0 shows as "0"
    significant = np.arange(3)[::-1][None, :] < length[:, None]
    return np.where(significant, digits + TOKEN_ID["0"], TOKEN_ID[" "])


def carry_trace(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Long multiplication column by column, for operand arrays (N,).

    Returns (result digits (N, 6), carries (N, 6)), least significant column first: column k sums
    ``a_i * b_j`` over ``i + j = k`` plus the carry in; its digit is the sum mod 10 and its carry the sum
    // 10. Carries stay below 27, so two characters always hold them."""
    a_digits, b_digits = _digits(a, 3), _digits(b, 3)
    products = a_digits[:, :, None] * b_digits[:, None, :]      # (N, 3, 3), [i, j] -> column i + j
    column = np.add.outer(np.arange(3), np.arange(3))
    column_sums = np.stack([products[:, column == k].sum(axis=1) for k in range(RESULT_DIGITS)], axis=1)
    digits = np.empty_like(column_sums)
    carries = np.empty_like(column_sums)
    carry = np.zeros(len(a), column_sums.dtype)
    for k in range(RESULT_DIGITS):                              # six columns, each over all rows at once
        total = column_sums[:, k] + carry
        digits[:, k], carries[:, k] = total % 10, total // 10
        carry = carries[:, k]
    return digits, carries


def apply_operation(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    """The true result of ``a op b`` for arrays (N,); ``//`` and ``%`` are Python's floor division/modulo."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}: choose one of {OPERATIONS}")
    if op in ("//", "%") and np.any(b == 0):
        raise ValueError(f"{op} by zero")
    return NUMPY_OPERATION[op](a, b)


def make_rows(a, b, op: str) -> np.ndarray:
    """Operand arrays (N,) in 0-999 -> token rows in the carry-trace format, uint8 (N, 28)."""
    a, b = as_operands(a, b)
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) > MAX_OPERAND):
        raise ValueError(f"operands must be in 0-{MAX_OPERAND}")
    result = apply_operation(a, b, op)
    n = len(a)
    rows = np.empty((n, SEQ_LEN), np.uint8)
    rows[:, 0:3] = _operand_tokens(a)
    rows[:, 3:5] = [TOKEN_ID[c] for c in OPERATOR_FIELD[op]]
    rows[:, 5:8] = _operand_tokens(b)
    rows[:, 8] = TOKEN_ID["="]
    rows[:, 9] = np.where(result < 0, TOKEN_ID["-"], TOKEN_ID["+"])
    if op == "*":
        digits, carries = carry_trace(a, b)
    else:
        digits, carries = _digits(np.abs(result), RESULT_DIGITS), np.zeros((n, RESULT_DIGITS), np.int64)
    rows[:, 10::3] = digits + TOKEN_ID["0"]
    rows[:, 11::3] = carries // 10 + TOKEN_ID["0"]
    rows[:, 12::3] = carries % 10 + TOKEN_ID["0"]
    return rows


def all_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair for every operation (b = 0 omitted for // and %): 4,998,000 rows.

    Returns (rows uint8 (N, 28), a (N,), b (N,), operation index into OPERATIONS (N,) uint8)."""
    grid_a, grid_b = np.meshgrid(np.arange(1000), np.arange(1000), indexing="ij")
    grid_a, grid_b = grid_a.ravel(), grid_b.ravel()
    parts = []
    for index, op in enumerate(OPERATIONS):                    # five operations, each vectorised
        keep = grid_b != 0 if op in ("//", "%") else slice(None)
        a, b = grid_a[keep], grid_b[keep]
        parts.append((make_rows(a, b, op), a.astype(np.int16), b.astype(np.int16), np.full(len(a), index, np.uint8)))
    return tuple(np.concatenate(column) for column in zip(*parts))


def read_result(answer_ids) -> np.ndarray:
    """Answer tokens (N, 19) -> the integers they spell (N,), reading the sign and the six result digits."""
    answer_ids = np.asarray(answer_ids).astype(np.int64)
    digits = answer_ids[:, 1::3] - TOKEN_ID["0"]               # (N, 6), least significant first
    value = (digits * 10 ** np.arange(RESULT_DIGITS)).sum(axis=1)
    return np.where(answer_ids[:, 0] == TOKEN_ID["-"], -value, value)


def device_data(rows: np.ndarray, op_index: np.ndarray, op_weights: dict, answer_masks=None) -> dict:
    """What ``sample_batch`` draws from, ready to put on the device: rows grouped by operation.

    rows (N, T) and op_index (N,) as from ``all_rows`` (grouped by operation, in OPERATIONS order);
    op_weights ``{op: weight}``, how often each operation is drawn (normalised here); answer_masks
    (5, T - 1), which targets are answer characters for each operation (default: this format's 19)."""
    counts = np.bincount(op_index, minlength=len(OPERATIONS))
    if np.any(np.diff(op_index.astype(int)) < 0):
        raise ValueError("rows must be grouped by operation, in OPERATIONS order")
    weights = np.array([op_weights.get(op, 0.0) for op in OPERATIONS], np.float64)
    if weights.min() < 0 or weights.sum() <= 0 or np.any((weights > 0) & (counts == 0)):
        raise ValueError(f"bad operation weights {op_weights}")
    if answer_masks is None:
        answer_masks = np.broadcast_to(ANSWER_MASK, (len(OPERATIONS), SEQ_LEN - 1))
    return {"rows": jnp.asarray(rows), "starts": jnp.asarray(np.cumsum(counts) - counts),
            "answer_masks": jnp.asarray(answer_masks),
            "counts": jnp.asarray(counts), "log_weights": jnp.asarray(np.log(weights / weights.sum(), where=weights > 0,
                                                                              out=np.full(len(weights), -np.inf)))}


def sample_batch(key, data: dict, batch_size: int) -> dict:
    """Draw ``batch_size`` rows on the device: an operation by its weight, then a row of it uniformly.
    Returns ``{"x", "y", "answer_mask"}`` of shape (B, T - 1); the mask covers each row's answer targets."""
    op_key, row_key = jax.random.split(key)
    op = jax.random.categorical(op_key, data["log_weights"], shape=(batch_size,))
    offset = jnp.floor(jax.random.uniform(row_key, (batch_size,)) * data["counts"][op]).astype(jnp.int32)
    rows = data["rows"][data["starts"][op] + offset].astype(jnp.int32)
    return {"x": rows[:, :-1], "y": rows[:, 1:], "answer_mask": data["answer_masks"][op]}


def readable(answer_ids) -> np.ndarray:
    """Answer tokens (N, 19) -> bool (N,): a sign first and a digit at every result and carry place."""
    answer_ids = np.asarray(answer_ids)
    sign_ok = np.isin(answer_ids[:, 0], [TOKEN_ID["+"], TOKEN_ID["-"]])
    return sign_ok & np.all(answer_ids[:, 1:] <= TOKEN_ID["9"], axis=1)


def validation_split(n_rows: int, size: int = 100_000, seed: int = 0) -> np.ndarray:
    """Indices (size,) of the rows held out for validation: seeded, distinct, and in random order, so
    any prefix of them is a fair sample of every operation."""
    return np.random.default_rng(seed).choice(n_rows, size, replace=False)


def exact_by_operation(correct: np.ndarray, op_index: np.ndarray) -> dict:
    """Exact-answer accuracy per operation: ``{op: fraction}`` from correct (N,) and op_index (N,)."""
    return {op: float(correct[op_index == i].mean()) for i, op in enumerate(OPERATIONS) if np.any(op_index == i)}


# What each of the 19 answer characters is: the sign, then per column k its result digit and two carry digits.
ANSWER_PLACES = ["sign"] + [f"{kind} {k}" for k in range(RESULT_DIGITS) for kind in ("digit", "carry", "carry")]


def error_analysis(answer_ids: np.ndarray, target_ids: np.ndarray, op_index: np.ndarray) -> dict:
    """For wrong answers (N, 19) against targets (N, 19): where the first mistake is (sign, result digit k,
    or carry digit of column k), and, for ``*``, whether the carry trace was right where the result was wrong."""
    wrong = answer_ids != target_ids
    rows_wrong = wrong.any(axis=1)
    first = np.argmax(wrong[rows_wrong], axis=1)
    first_place = np.array(ANSWER_PLACES)[first]
    result_wrong = wrong[:, 1::3].any(axis=1)
    carry_right = ~(wrong[:, 2::3] | wrong[:, 3::3]).any(axis=1)
    times = op_index == OPERATIONS.index("*")
    return {
        "wrong": int(rows_wrong.sum()),
        "first_mistake": {place: int((first_place == place).sum()) for place in dict.fromkeys(ANSWER_PLACES)
                          if (first_place == place).any()},
        "first_mistake_by_op": {op: {place: int(((first_place == place) & (op_index[rows_wrong] == i)).sum())
                                     for place in sorted(set(first_place[op_index[rows_wrong] == i].tolist()))}
                                for i, op in enumerate(OPERATIONS)},
        "times_result_wrong": int((result_wrong & times).sum()),
        "times_result_wrong_carry_right": int((result_wrong & carry_right & times).sum()),
    }


# ---------------------------------------------------------------- recipes and the step-based training run

@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named model + optimizer + budget for notebook 08. ``train.batch_size`` rows per step."""
    name: str
    model: ModelConfig
    train: TrainConfig
    steps: int
    op_weights: tuple = (("+", 0.05), ("-", 0.10), ("*", 0.20), ("//", 0.30), ("%", 0.35))


def _recipe(name, d_model, n_layers, n_heads, batch_size, steps, learning_rate, warmup_steps, seq_len=SEQ_LEN):
    model_config = ModelConfig(vocab_size=len(VOCAB), max_len=seq_len - 1, d_model=d_model, n_layers=n_layers,
                               n_heads=n_heads, d_ff=4 * d_model, pos_encoding="learned")
    train_config = TrainConfig(optimizer="adamw", learning_rate=learning_rate, schedule="cosine",
                               warmup_steps=warmup_steps, weight_decay=0.1, grad_clip=1.0,
                               batch_size=batch_size, epochs=1, loss="masked")
    return Recipe(name, model_config, train_config, steps)


RECIPES = {
    # trains on a 2-core CPU in under an hour; the committed run of notebook 08
    "cpu": _recipe("cpu", d_model=128, n_layers=4, n_heads=4, batch_size=128, steps=12000, learning_rate=1e-3, warmup_steps=500),
    # about 10.6M parameters for a free T4 or TPU, the reference's size and schedule (run once, on an H100:
    # figures/08_results_t4_gpu.json)
    "t4": _recipe("t4", d_model=384, n_layers=6, n_heads=6, batch_size=1024, steps=8000, learning_rate=5e-4, warmup_steps=500),
}


def train_flops(recipe: Recipe, params: int) -> float:
    """Training FLOPs by the usual 6 * parameters * tokens count (forward 2, backward 4 per weight and token)."""
    return 6.0 * params * recipe.train.batch_size * recipe.model.max_len * recipe.steps


def teacher_forced(params, config: ModelConfig, rows, answer_mask=None):
    """rows (N, T) -> (predicted answer tokens (N, T - 9), exact (N,) bool) from one teacher-forced pass:
    greedy decoding is right exactly when every teacher-forced argmax is (see ``evaluate.exact_match``).
    answer_mask (N, T - 1) says which targets are answer characters (default: the 19 of this format)."""
    rows = jnp.asarray(rows, jnp.int32)
    logits = forward(params, rows[:, :-1], config)                             # (N, T - 1, V)
    if answer_mask is None:
        answer_mask = jnp.broadcast_to(ANSWER_MASK, logits.shape[:2])
    predicted = jnp.argmax(logits[:, PROMPT_LEN - 1:], axis=-1)
    return predicted, exact_match(logits, rows[:, 1:], answer_mask)


def decode_cached(params, config: ModelConfig, rows) -> np.ndarray:
    """Greedy answers with the key/value cache: rows (N, >= 9), of which only the prompt is read -> (N, 19)."""
    prompts = jnp.asarray(rows[:, :PROMPT_LEN], jnp.int32)
    return np.asarray(greedy_decode_cached(params, config, prompts, ANSWER_LEN))


def decode_full_recompute(params, config: ModelConfig, rows) -> np.ndarray:
    """Greedy answers without a cache, the whole 27-token window through the model for every answer
    character: rows (N, >= 9) -> (N, 19). The baseline the cache is measured against."""
    tokens = jnp.asarray(np.pad(rows[:, :PROMPT_LEN], ((0, 0), (0, ANSWER_LEN))), jnp.int32)
    out = greedy_decode(params, config, tokens, jnp.full(len(rows), PROMPT_LEN), ANSWER_LEN, stop_at_eos=False)
    return np.asarray(out[:, PROMPT_LEN:])


def rows_per_second(decode, rows: np.ndarray, batch: int, progress: bool = True):
    """Time ``decode(rows[i:i + batch])`` over all ``rows``, compile excluded (one warm-up call on the first
    batch). Returns (rows per second, the concatenated outputs)."""
    decode(rows[:batch])
    start = time.perf_counter()
    outputs = [decode(rows[i:i + batch]) for i in tqdm(range(0, len(rows), batch), desc="decoding", disable=not progress)]
    return len(rows) / (time.perf_counter() - start), np.concatenate(outputs)


def run_training(recipe: Recipe, train_data: dict, val_rows: np.ndarray, val_ops: np.ndarray,
                 chunk_steps: int, steps: int | None = None, seed: int = 0, progress: bool = True,
                 start_params=None):
    """Train ``recipe`` for ``steps`` (default ``recipe.steps``) in jit-compiled chunks of ``chunk_steps``,
    logging after each chunk the mean training loss and, on the validation sample ``val_rows`` (n, T),
    answer-token accuracy and exact-answer accuracy per operation (answer characters as
    ``train_data["answer_masks"]`` says). Returns (state, history); ``state`` is (params, opt_state, key,
    step), the tuple a checkpoint saves. ``start_params``: go on training these (a fresh optimizer state)
    instead of a new initialisation."""
    steps = recipe.steps if steps is None else steps
    start = time.perf_counter()
    mesh = parallel.data_mesh()
    parallel.check_batch_size(recipe.train.batch_size, mesh)
    optimizer = make_optimizer(recipe.train, steps)
    run_steps = make_sampled_steps_fn(recipe.model, recipe.train, optimizer,
                                      partial(sample_batch, batch_size=recipe.train.batch_size), chunk_steps, mesh)
    val_mask = np.asarray(train_data["answer_masks"])[val_ops]                  # (n, T - 1)
    evaluate = jax.jit(lambda params, rows: teacher_forced(params, recipe.model, rows, val_mask))
    key, init_key = jax.random.split(jax.random.key(seed))
    params = init_params(init_key, recipe.model) if start_params is None else start_params
    params = parallel.replicate(params, mesh)
    opt_state = parallel.replicate(optimizer.init(params), mesh)
    key = parallel.replicate(key, mesh)     # placed like the key each chunk returns: no second compile
    train_data = parallel.replicate(train_data, mesh)
    history = {"step": [], "loss": [], "token_accuracy": [], "seconds": [], **{op: [] for op in OPERATIONS}}
    bar = tqdm(range(chunk_steps, steps + 1, chunk_steps), desc=f"{recipe.name} steps", disable=not progress)
    for step in bar:
        params, opt_state, key, losses = run_steps(params, opt_state, key, train_data)
        predicted, exact = jax.device_get(evaluate(params, val_rows))
        history["step"].append(step)
        history["loss"].append(float(losses.mean()))
        answer = val_mask[:, PROMPT_LEN - 1:]
        history["token_accuracy"].append(float((predicted == val_rows[:, PROMPT_LEN:])[answer].mean()))
        history["seconds"].append(time.perf_counter() - start)
        for op, accuracy in exact_by_operation(exact, val_ops).items():
            history[op].append(accuracy)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", **{op: f"{history[op][-1]:.2f}" for op in ("*", "%") if history[op]})
    return (params, opt_state, key, jnp.int32(steps)), history


def train_recipe(name: str, out, steps: int | None = None, chunk: int = 250, progress: bool = True) -> dict:
    """Notebook 08's run of ``RECIPES[name]`` outside the notebook (for a GPU or TPU): the same rows, the same
    100,000 held-out validation rows, the same sampling, then exact answers per operation on all of those
    rows (one teacher-forced pass, which greedy decoding matches). Writes ``out/08_results_<name>.json``
    (no checkpoint) and returns what it wrote."""
    import json

    from . import runtime
    out = runtime.writable_dir(out)             # before training, so a bad folder costs seconds, not the run
    recipe = RECIPES[name]
    steps = recipe.steps if steps is None else steps
    rows, _, _, op_all = all_rows()
    val_index = validation_split(len(rows))
    is_train = np.ones(len(rows), bool)
    is_train[val_index] = False
    val_rows, val_ops = rows[val_index], op_all[val_index]
    train_data = device_data(rows[is_train], op_all[is_train], dict(recipe.op_weights))
    state, history = run_training(recipe, train_data, val_rows[:2000], val_ops[:2000], min(chunk, steps), steps,
                                  progress=progress)
    score = jax.jit(lambda params, batch: teacher_forced(params, recipe.model, batch)[1])
    batch = 10_000
    exact = np.concatenate([np.asarray(score(state[0], val_rows[lo:lo + batch])) for lo in range(0, len(val_rows), batch)])
    report = {"recipe": name, "steps": steps, "train_minutes": history["seconds"][-1] / 60,
              "validation_rows": len(val_rows), "exact_by_operation": exact_by_operation(exact, val_ops),
              "exact_all": float(exact.mean()), "hardware": runtime.hardware_line(), "history": history}
    path = out / f"08_results_{name}.json"
    path.write_text(json.dumps(report) + "\n")
    return report


def main(argv=None) -> int:
    import argparse

    from . import runtime
    parser = argparse.ArgumentParser(prog="python -m shared.arithmetic",
                                     description="train one of notebook 08's recipes outside the notebook")
    parser.add_argument("recipe", choices=tuple(RECIPES))
    parser.add_argument("--out", required=True, help="folder for 08_results_<recipe>.json")
    parser.add_argument("--steps", type=int, help="default: the recipe's")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be positive")
    runtime.out_dir_or_exit(parser, args.out)
    report = train_recipe(args.recipe, args.out, args.steps)
    print({op: f"{100 * value:.2f}%" for op, value in report["exact_by_operation"].items()},
          f"{report['train_minutes']:.1f} min on {report['hardware']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
