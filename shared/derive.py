"""Differentiate polynomials with notebook 12's encoder-decoder.

    python -m shared.derive "-3x^3+4x^2-4"         # prints -9x^2+8x
    echo "x^2-x+1" | python -m shared.derive       # one polynomial per line on stdin
    python -m shared.derive --train [--quick]      # the committed training run -> shared/checkpoints/derive
    python -m shared.derive --evaluate             # score it on 10,000 different test polynomials

Polynomials as in ``shared.polynomials``: one variable x, whole powers 0-5, whole coefficients -5..5
(``3x^2 - x + 1``; spaces are fine, any correct spelling reads). A bad line prints one line on stderr (in
stdin mode ``line N: ...``) and an empty line on stdout, so answers stay aligned with the input; the rest
are still answered. Exit status: 0 if every line was answered, 1 if any was bad, 2 if the model could not
be loaded.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import pathlib
import sys
import time

import numpy as np

from . import polynomials as P

CHECKPOINT = pathlib.Path(__file__).resolve().parent / "checkpoints" / "derive"
SOURCE_LEN = 25                  # the longest polynomial, "-5x^5-5x^4-5x^3-5x^2-5x-5"
TARGET_LEN = 26                  # start + the longest derivative (24 tokens) + end


def reverse_digits(tokens) -> np.ndarray:
    """Swap the two digits of every two-digit number in (N, T) tokens, ``-12x^2+25x`` <-> ``-21x^2+52x``
    (the coefficients written here have at most two digits). Its own inverse."""
    tokens = np.asarray(tokens)
    is_digit = (tokens >= P.ZERO) & (tokens <= P.ZERO + 9)
    before = np.pad(is_digit, ((0, 0), (1, 0)))[:, :-1]
    after_next = np.pad(is_digit, ((0, 0), (0, 2)))[:, 2:]
    first = is_digit & np.pad(is_digit, ((0, 0), (0, 1)))[:, 1:] & ~before & ~after_next
    second = np.pad(first, ((0, 0), (1, 0)))[:, :-1]
    out = tokens.copy()
    out[first], out[second] = tokens[second], tokens[first]
    return out


def examples(coeffs, reversed_digits: bool = False) -> dict:
    """Polynomials (N, 6) -> the arrays the encoder-decoder trains on: ``source`` (N, 25) the polynomial's
    tokens; ``target_in`` (N, 26) start + derivative; ``target_out`` (N, 26) derivative + end; ``mask``
    (N, 26) which targets count (up to and including the end token). ``reversed_digits``: the derivative's
    two-digit coefficients are written ones digit first."""
    source = P.render(coeffs, SOURCE_LEN).astype(np.int32)
    derivative = P.render(P.derivative(coeffs), TARGET_LEN - 1).astype(np.int32)
    if reversed_digits:
        derivative = reverse_digits(derivative)
    length = (derivative != P.PAD).sum(axis=1)
    target_out = np.concatenate([derivative, np.zeros((len(coeffs), 1), np.int32)], axis=1)
    target_out[np.arange(len(coeffs)), length] = P.END
    target_in = np.concatenate([np.full((len(coeffs), 1), P.START, np.int32), target_out[:, :-1]], axis=1)
    mask = np.arange(TARGET_LEN) <= length[:, None]
    return {"source": source, "target_in": target_in, "target_out": target_out, "mask": mask}


def joined_examples(coeffs, reversed_digits: bool = False) -> dict:
    """The same task for a decoder-only model: one row (N, 52) per polynomial, ``polynomial <s> derivative
    </s>`` then padding; ``inputs`` (N, 51) and ``targets`` (N, 51) are that row shifted by one, and
    ``mask`` (N, 51) marks the targets that count (the derivative and its end token, as for the
    encoder-decoder)."""
    pair = examples(coeffs, reversed_digits)
    start = np.full((len(coeffs), 1), P.START, np.int32)
    row = np.concatenate([pair["source"], start, pair["target_out"]], axis=1)          # (N, 52), gaps inside
    row = np.take_along_axis(row, np.argsort(row == P.PAD, axis=1, kind="stable"), axis=1)   # close the gaps
    seen_start = np.cumsum(row == P.START, axis=1)[:, :-1] > 0
    seen_end = np.cumsum(row == P.END, axis=1)[:, :-1] > 0
    return {"inputs": row[:, :-1], "targets": row[:, 1:], "mask": seen_start & ~seen_end}


def check_polynomial(coeffs_row, text: str) -> None:
    """Raise ValueError (a message a person can act on) if a parsed polynomial is outside what the model
    was trained on."""
    if np.abs(coeffs_row).max() > P.MAX_COEFF:
        raise ValueError(f"coefficients must be between -{P.MAX_COEFF} and {P.MAX_COEFF}: {text.strip()!r}")
    if not coeffs_row[1:].any():
        raise ValueError(f"the degree must be 1 to {P.MAX_DEGREE} (a constant's derivative is 0): {text.strip()!r}")


def parse_line(text: str) -> np.ndarray:
    """One polynomial as a person types it -> coefficients (6,). Raises ValueError saying what is wrong."""
    if not text.strip():
        raise ValueError("empty line")
    coeffs, readable = P.parse(P.from_text([text]), max_power=9)
    if not readable[0]:
        raise ValueError(f"not a polynomial in x with powers 0-{P.MAX_DEGREE}, each written once: {text.strip()!r}")
    if coeffs[0, P.POWERS:].any():
        raise ValueError(f"powers above {P.MAX_DEGREE} are not supported: {text.strip()!r}")
    check_polynomial(coeffs[0, :P.POWERS], text)
    return coeffs[0, :P.POWERS]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model and how to train it: AdamW with warmup and cosine decay, gradient clipping at 1, batches
    drawn by epochs over ``train_polynomials`` training rows. ``model`` is an encoder-decoder
    (``seq2seq.Seq2SeqConfig``) or, for comparison, the series' decoder-only model (``model.ModelConfig``,
    trained on ``joined_examples``)."""
    model: object
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    epochs: int = 20
    train_polynomials: int = 100_000
    weight_decay: float = 0.01
    reversed_digits: bool = False   # write the derivative's two-digit coefficients ones digit first

    def __post_init__(self):
        if min(self.batch_size, self.epochs, self.train_polynomials) < 1 or self.learning_rate <= 0:
            raise ValueError("batch_size, learning_rate, epochs and train_polynomials must be positive")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps and weight_decay must not be negative")


def datasets(train_polynomials: int, held_out: int = 10_000, seed: int = 0, validation: int = 2000):
    """(train, validation, test) coefficient arrays (n, 6), each a sample of the distribution restricted to
    its split (``polynomials.split_of``), so no polynomial is in two of them: ``train_polynomials`` rows,
    ``validation`` (at most 2,000) validation rows and ``held_out`` test rows. Short polynomials repeat within a set, as they do
    in the distribution."""
    pool = P.sample(2 * train_polynomials + 25 * max(held_out, 2000), np.random.default_rng(seed))
    split = P.split_of(pool)
    train, validation, test = pool[split == 0][:train_polynomials], pool[split == 1][:min(validation, 2000)], pool[split == 2][:held_out]
    if len(train) < train_polynomials or len(test) < held_out:
        raise RuntimeError("the sample pool was too small for the sizes asked")    # 90% / 5% of the pool: never
    return train, validation, test


def distinct_test_polynomials(n: int, seed: int = 0) -> np.ndarray:
    """``n`` different polynomials of degree 1-5, drawn uniformly from all those in the test split: a
    harder set than the distribution's (long polynomials are most of them, and none repeats)."""
    every = np.arange(P.SPACE)
    coeffs = P.from_ids(every)
    candidates = every[(P.split_of(coeffs) == 2) & (P.degree(coeffs) >= 1)]
    return P.from_ids(np.random.default_rng(seed).choice(candidates, n, replace=False))


def is_decoder_only(config) -> bool:
    from .model import ModelConfig
    return isinstance(config, ModelConfig)


def training_arrays(recipe: Recipe, coeffs) -> dict:
    """What ``recipe``'s model trains on: ``joined_examples`` for a decoder-only model, else ``examples``."""
    make = joined_examples if is_decoder_only(recipe.model) else examples
    return make(coeffs, recipe.reversed_digits)


def init_params(key, config) -> dict:
    from . import model, seq2seq
    return (model if is_decoder_only(config) else seq2seq).init_params(key, config)


def make_train_step(config, optimizer):
    """``train_step((params, opt_state, key), batch) -> (..., loss)`` on a batch of ``training_arrays``:
    the mean cross-entropy over the target tokens that count."""
    import jax
    import optax

    from . import model, seq2seq, train

    def loss_fn(params, batch):
        if is_decoder_only(config):
            logits, labels = model.forward(params, batch["inputs"], config), batch["targets"]
        else:
            logits, labels = seq2seq.forward(params, batch["source"], batch["target_in"], config), batch["target_out"]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return train.mean_loss(losses, batch["mask"].astype(losses.dtype))

    def train_step(carry, batch):
        params, opt_state, key = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, key), loss

    return train_step


def _greedy_decoder_only(params, source, config):
    """Greedy decoding with the decoder-only model: source (B, 25) -> written tokens (B, 26). Each row's
    prompt is its polynomial and ``<s>``; every step reruns the model on the whole row (51 positions), and
    a position inside the prompt keeps its given token."""
    import jax
    import jax.numpy as jnp

    from . import model

    B = source.shape[0]
    prompt_len = (source != P.PAD).sum(axis=1) + 1
    row = jnp.zeros((B, 52), jnp.int32).at[:, :SOURCE_LEN].set(source).at[jnp.arange(B), prompt_len - 1].set(P.START)

    def step(row, t):
        guess = jnp.argmax(model.forward(params, row[:, :-1], config)[:, t], axis=-1).astype(jnp.int32)
        return row.at[:, t + 1].set(jnp.where(t + 1 < prompt_len, row[:, t + 1], guess)), None

    row, _ = jax.lax.scan(step, row, jnp.arange(51))
    return jnp.take_along_axis(row, prompt_len[:, None] + jnp.arange(TARGET_LEN), axis=1)   # 26 + 26 <= 52: always inside


@functools.lru_cache(maxsize=None)
def _greedy_fn(config):
    """The jit-compiled greedy decoder of one model config (built once, not once per call)."""
    import jax

    from . import seq2seq
    if is_decoder_only(config):
        return jax.jit(lambda params, source: _greedy_decoder_only(params, source, config))
    return jax.jit(lambda params, source: seq2seq.greedy(params, source, config, P.START, TARGET_LEN))


def write(params, config, coeffs, batch: int = 2000, reversed_digits: bool = False) -> np.ndarray:
    """Greedy derivatives of polynomials (N, 6): written tokens (N, TARGET_LEN), in natural digit order
    (``reversed_digits``: the model writes two-digit numbers ones digit first; they are turned back)."""
    import jax.numpy as jnp

    decode = _greedy_fn(config)
    batch = min(batch, max(len(coeffs), 1))                           # a small set: no padding to 2,000
    out = []
    for lo in range(0, len(coeffs), batch):
        source = P.render(coeffs[lo:lo + batch], SOURCE_LEN).astype(np.int32)
        n = len(source)
        source = np.pad(source, ((0, batch - n), (0, 0)))             # one compiled shape
        source[n:, 0] = P.TOKEN_ID["x"]                               # padding rows: any valid polynomial
        out.append(np.asarray(decode(params, jnp.asarray(source)))[:n])
    written = np.concatenate(out) if out else np.zeros((0, TARGET_LEN), np.int32)
    return reverse_digits(written) if reversed_digits else written


def as_text(written) -> list[str]:
    """Written tokens (N, T) -> the derivatives as text, each cut at its end token."""
    written = np.asarray(written)
    return P.to_text(np.where(np.cumsum(written == P.END, axis=1) > 0, P.PAD, written))


def wrong_examples(coeffs, written, kinds, at_most: int = 50) -> list[list[str]]:
    """The first ``at_most`` misses as ``[polynomial, true derivative, what the model wrote, kind]``."""
    wrong = np.flatnonzero(kinds != "exact")[:at_most]
    return [[polynomial, derivative, answer, str(kind)] for polynomial, derivative, answer, kind in
            zip(P.to_text(P.render(coeffs[wrong])), P.to_text(P.render(P.derivative(coeffs[wrong]))),
                as_text(written[wrong]), kinds[wrong])]


def score(coeffs, written) -> dict:
    """Exact match (the same polynomial, read back by ``polynomials.parse``) by degree, and what went wrong
    in the reference's terms: ``unreadable``; ``structure`` (a different set of powers); ``sign`` (the
    right powers and sizes, a sign flipped); ``coefficient`` (the right powers, a size wrong)."""
    truth = P.derivative(coeffs)
    got, readable = P.parse(written)
    exact = readable & (got == truth).all(axis=1)
    same_powers = (got != 0) == (truth != 0)
    kinds = np.select([exact, ~readable, ~same_powers.all(axis=1), (np.abs(got) == np.abs(truth)).all(axis=1)],
                      ["exact", "unreadable", "structure", "sign"], "coefficient")
    degree = P.degree(coeffs)
    return {"exact_by_degree": {int(d): float(exact[degree == d].mean()) for d in np.unique(degree)},
            "count_by_degree": {int(d): int((degree == d).sum()) for d in np.unique(degree)},
            "exact": float(exact.mean()),
            "errors": {kind: int((kinds == kind).sum()) for kind in ("unreadable", "structure", "sign", "coefficient")},
            "kinds": kinds}


def train_model(recipe: Recipe, train_coeffs, val_coeffs, seed: int = 0, progress: bool = True, evaluate_every: int = 1):
    """Train ``recipe`` on ``train_coeffs``; after every ``evaluate_every`` epochs decode the validation
    polynomials greedily. Returns (params, history: epoch, loss, validation exact and by degree, seconds
    since the start, compile included)."""
    import jax
    import jax.numpy as jnp
    import optax
    from tqdm.auto import tqdm

    from . import train

    start = time.perf_counter()
    steps_per_epoch = len(train_coeffs) // recipe.batch_size
    schedule = optax.warmup_cosine_decay_schedule(0.0, recipe.learning_rate, recipe.warmup_steps,
                                                  max(steps_per_epoch * recipe.epochs, recipe.warmup_steps + 1))
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=recipe.weight_decay))
    key, init_key = jax.random.split(jax.random.key(seed))
    params = init_params(init_key, recipe.model)
    opt_state = optimizer.init(params)
    run_epoch = train.epoch_fn(make_train_step(recipe.model, optimizer), recipe.batch_size)
    arrays = {name: jnp.asarray(value) for name, value in training_arrays(recipe, train_coeffs).items()}
    history = {"epoch": [], "loss": [], "exact": [], "exact_by_degree": [], "seconds": []}
    bar = tqdm(range(1, recipe.epochs + 1), desc="epochs", disable=not progress)
    for epoch in bar:
        params, opt_state, key, loss = run_epoch(params, opt_state, key, arrays)
        if epoch % evaluate_every and epoch != recipe.epochs:
            continue
        report = score(val_coeffs, write(params, recipe.model, val_coeffs, reversed_digits=recipe.reversed_digits))
        history["epoch"].append(epoch)
        history["loss"].append(float(loss))
        history["exact"].append(report["exact"])
        history["exact_by_degree"].append(report["exact_by_degree"])
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{float(loss):.4f}", exact=f"{report['exact']:.4f}")
    return params, history


def ship_recipe():
    """The shipped model: 0.23M parameters, pre-norm, 2 + 2 layers of width 64; 100,000 training
    polynomials (the reference's count), 12 epochs of batch 128."""
    from .seq2seq import Seq2SeqConfig
    model = Seq2SeqConfig(d_model=64, n_encoder_layers=2, n_decoder_layers=2, n_heads=4, d_ff=256, norm="pre")
    return Recipe(model, batch_size=128, learning_rate=2e-3, warmup_steps=200, epochs=12, train_polynomials=100_000)


def train_and_save(recipe: Recipe, path, out: pathlib.Path, progress: bool = True) -> dict:
    """Train ``recipe``, score it on the 10,000 test polynomials, save the checkpoint at ``path`` and the
    history and test report to ``out/12_derive.json``. Returns that report."""
    import json

    from . import checkpoint, runtime
    from .model import count_params

    train, validation, test = datasets(recipe.train_polynomials)
    start = time.perf_counter()
    params, history = train_model(recipe, train, validation, progress=progress)
    minutes = (time.perf_counter() - start) / 60
    written = write(params, recipe.model, test, reversed_digits=recipe.reversed_digits)
    report = score(test, written)
    examples = wrong_examples(test, written, report.pop("kinds"))
    info = {"recipe": {k: v for k, v in dataclasses.asdict(recipe).items() if k != "model"},
            "params": count_params(params), "train_minutes": minutes, "hardware": runtime.hardware_line()}
    checkpoint.save(path, params, recipe.model, **info, test=report)
    result = {**info, "history": history, "test": report, "test_distinct": int(len(np.unique(P.ids(test)))),
              "wrong_examples": examples}
    (out / "12_derive.json").write_text(json.dumps(result) + "\n")
    return result


def evaluate_distinct(model: Differentiator, out: pathlib.Path, n: int = 10_000) -> dict:
    """Score a loaded ``Differentiator`` on ``distinct_test_polynomials(n)``; write ``out/12_derive_distinct.json``."""
    import json

    from . import runtime

    test = distinct_test_polynomials(n)
    written = write(model.params, model.config, test)
    report = score(test, written)
    report["wrong_examples"] = wrong_examples(test, written, report.pop("kinds"))
    report["hardware"] = runtime.hardware_line()
    (out / "12_derive_distinct.json").write_text(json.dumps(report) + "\n")
    return report


class Differentiator:
    """The trained encoder-decoder, loaded from a checkpoint (``.npz`` + ``.json``, no pickle)."""

    def __init__(self, path=CHECKPOINT):
        import jax

        from . import checkpoint, seq2seq

        self.config, self.info = checkpoint.load_config(path, seq2seq.Seq2SeqConfig)
        shapes = jax.eval_shape(lambda key: seq2seq.init_params(key, self.config), jax.random.key(0))
        self.params = checkpoint.load(path, jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes))

    def derive(self, coeffs) -> list[str]:
        """Polynomials (N, 6) -> the derivatives the model writes, as text ("" where it wrote nothing)."""
        return as_text(write(self.params, self.config, np.asarray(coeffs), batch=max(8, -(-len(coeffs) // 8) * 8)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.derive", description=__doc__.splitlines()[0])
    parser.add_argument("polynomials", nargs="*", help='polynomials such as "-3x^3+4x^2-4"; none: read stdin')
    parser.add_argument("--checkpoint", default=str(CHECKPOINT), help="checkpoint path (without suffix)")
    parser.add_argument("--train", action="store_true", help="train the shipped model (writes the checkpoint "
                        "and figures/12_derive.json)")
    parser.add_argument("--quick", action="store_true", help="with --train: a tiny run into a temporary folder")
    parser.add_argument("--evaluate", action="store_true", help="score the model on 10,000 different test "
                        "polynomials (figures/12_derive_distinct.json)")
    from .calc import parse_lines, split_arguments, use_compilation_cache
    options, polynomials = split_arguments(sys.argv[1:] if argv is None else list(argv), valued=("--checkpoint",))
    args = parser.parse_args(options)
    args.polynomials = polynomials

    def load_model() -> Differentiator | None:
        try:
            return Differentiator(args.checkpoint)
        except ValueError as error:
            print(f"cannot load the model: {error}", file=sys.stderr)
            return None

    if args.evaluate:
        from . import runtime
        if (model := load_model()) is None:
            return 2
        report = evaluate_distinct(model, runtime.REPO_ROOT / "figures")
        print({key: report[key] for key in ("exact", "exact_by_degree", "errors")})
        return 0
    if args.train:
        from . import runtime
        recipe, out, path = ship_recipe(), runtime.REPO_ROOT / "figures", CHECKPOINT
        if args.quick:
            recipe = dataclasses.replace(recipe, epochs=1, train_polynomials=2000)
            out = runtime.scratch_dir("catculator-12-")
            path = out / "derive"
        result = train_and_save(recipe, path, out)
        print({"minutes": round(result["train_minutes"], 1), **result["test"]})
        return 0
    from_stdin = not args.polynomials
    lines = sys.stdin.read().splitlines() if from_stdin else args.polynomials
    parsed, status = parse_lines(lines, parse_line, from_stdin)
    good = [p for p in parsed if p is not None]
    if good:
        use_compilation_cache()
        if (model := load_model()) is None:
            return 2
        answers = iter(model.derive(np.stack(good)))
    for coeffs in parsed:
        print("" if coeffs is None else next(answers))
    return status


if __name__ == "__main__":
    sys.exit(main())
