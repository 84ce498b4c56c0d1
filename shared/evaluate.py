"""Exact-answer accuracy, batched greedy decoding under ``jit``, and tables of decoded examples."""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import data as data_lib
from .model import ModelConfig, decode_step, forward


def exact_match(logits, y, answer_mask):
    """Whether greedy decoding gets each row's whole answer right, from ONE teacher-forced pass.

    logits (N, T, V), targets y (N, T), answer_mask (N, T) -> bool (N,). Greedy decoding feeds back its
    own argmax; while every argmax so far equals the target, its input equals the teacher-forced input.
    So greedy decoding writes the right answer exactly when the argmax is right at every answer position
    under teacher forcing. (``tests/test_train_evaluate.py`` checks this against real decoding.)"""
    correct = jnp.argmax(logits, axis=-1) == y
    return jnp.all(correct | ~answer_mask, axis=-1)


def answer_errors(params, config: ModelConfig, split: data_lib.Split, batch_size: int = 4096):
    """Per row of ``split``: whether greedy decoding gets the whole answer right, and if not, which answer
    character it gets wrong first (0 = the first character after ``=``; the answer's length = the closing
    ``#``). Returns ``(correct (N,) bool, first_wrong (N,) int, -1 where correct)``.

    Until its first mistake greedy decoding reads exactly the teacher-forced input, so its first wrong
    character is the first answer position where the teacher-forced argmax misses the target."""
    correct, first_wrong = [], []
    for lo in range(0, len(split), batch_size):  # a loop over chunks of rows, to bound memory
        chunk = slice(lo, lo + batch_size)
        ok, first = _answer_errors(params, jnp.asarray(split.x[chunk]), jnp.asarray(split.y[chunk]),
                                   jnp.asarray(split.answer_mask[chunk]), config)
        correct.append(np.asarray(ok))
        first_wrong.append(np.asarray(first))
    return np.concatenate(correct), np.concatenate(first_wrong)


@partial(jax.jit, static_argnames="config")
def _answer_errors(params, x, y, answer_mask, config):
    logits = forward(params, x, config)
    ok = exact_match(logits, y, answer_mask)
    wrong = (jnp.argmax(logits, axis=-1) != y) & answer_mask
    first = jnp.argmax(wrong, axis=-1) - jnp.argmax(answer_mask, axis=-1)
    return ok, jnp.where(ok, -1, first)


def exact_accuracy(params, config: ModelConfig, split: data_lib.Split) -> float:
    """Fraction of the rows of ``split`` whose answer greedy decoding gets exactly right."""
    return float(answer_errors(params, config, split)[0].mean())


def prompt_lengths(x) -> np.ndarray:
    """Inputs (N, T) -> the number of prompt tokens per row, ``#a op b=`` included: shape (N,)."""
    return np.argmax(np.asarray(x) == data_lib.EQUALS, axis=-1) + 1


@partial(jax.jit, static_argnames=("config", "max_new_tokens", "stop_at_eos"))
def greedy_decode(params, config: ModelConfig, tokens, lengths, max_new_tokens: int, stop_at_eos: bool = True):
    """Batched greedy decoding with a full forward pass per generated token.

    tokens (N, W): each row holds its prompt in ``[:lengths[i]]`` (anything after is ignored);
    lengths (N,). Returns (N, W) tokens with up to ``max_new_tokens`` generated after each prompt;
    with ``stop_at_eos``, a row that emits ``#`` (EOS) is padded with ``#`` from then on. The last
    column is only ever written, never read, so W may be ``config.max_len + 1``."""
    N, W = tokens.shape
    rows = jnp.arange(N)
    tokens = jnp.where(jnp.arange(W) < lengths[:, None], tokens, data_lib.PAD)

    def step(carry, offset):
        tokens, done = carry
        position = lengths + offset                                # where this step writes, (N,)
        logits = forward(params, tokens[:, :-1], config)             # (N, W - 1, V)
        next_token = jnp.argmax(logits[rows, jnp.minimum(position, W - 1) - 1], axis=-1)
        if stop_at_eos:
            next_token = jnp.where(done, data_lib.PAD, next_token)
        tokens = tokens.at[rows, position].set(next_token, mode="drop")
        return (tokens, done | (next_token == data_lib.EOS)), None

    (tokens, _), _ = jax.lax.scan(step, (tokens, jnp.zeros(N, bool)), jnp.arange(max_new_tokens))
    return tokens


@partial(jax.jit, static_argnames=("config", "steps"))
def greedy_decode_cached(params, config: ModelConfig, prompt, steps: int):
    """Greedy decoding with a key/value cache, for prompts of one length: prompt (N, P) -> (N, steps).

    One forward pass over the prompts fills the cache; then a ``lax.scan`` over the ``steps`` positions
    feeds one token at a time, each attending over the cached keys and values instead of recomputing
    the whole prefix. Same tokens as ``greedy_decode``, far fewer FLOPs for long answers."""
    N, P = prompt.shape
    logits, (k, v) = forward(params, prompt, config, return_cache=True)      # k, v: (L, N, P, H, K)
    room = [(0, 0), (0, 0), (0, steps - 1), (0, 0), (0, 0)]                  # slots for the answer
    k_cache, v_cache = jnp.pad(k, room), jnp.pad(v, room)
    first = jnp.argmax(logits[:, -1], axis=-1)

    def step(carry, position):
        token, k_cache, v_cache = carry
        logits, k_cache, v_cache = decode_step(params, token, position, k_cache, v_cache, config)
        return (jnp.argmax(logits, axis=-1), k_cache, v_cache), token

    (last, _, _), tokens = jax.lax.scan(step, (first, k_cache, v_cache), jnp.arange(P, P + steps - 1))
    return jnp.concatenate([tokens.T, last[:, None]], axis=1)


def decode_answers(params, config: ModelConfig, x) -> list[str]:
    """Greedy answers (the text between ``=`` and the first ``#``) for the prompts in inputs x (N, T)."""
    x = np.asarray(x)
    lengths = prompt_lengths(x)
    max_new = int(x.shape[1] - lengths.min())
    out = np.asarray(greedy_decode(params, config, jnp.asarray(x), jnp.asarray(lengths), max_new))
    return [data_lib.decode(row[n:]).split("#")[0] for row, n in zip(out, lengths)]


def parse_problem(text: str) -> tuple[int, str, int]:
    """``"72+90"`` -> ``(72, "+", 90)``. Raises ValueError with a clear message for anything else."""
    text = text.replace(" ", "")
    for op in data_lib.OPERATORS:
        left, sep, right = text.partition(op)
        if sep and left.isdigit() and right.isdigit():
            return int(left), op, int(right)
    raise ValueError(f"cannot read {text!r} as a problem like '72+90' (operators {data_lib.OPERATORS})")


def sample_table(params, config: ModelConfig, problems=data_lib.BLOG_PROBLEMS, seq_len: int = data_lib.SEQ_LEN) -> str:
    """Decode ``problems`` (strings like ``"72+90"``) and return a table marking each answer right or wrong."""
    parsed = [parse_problem(p) for p in problems]
    rows = np.concatenate([data_lib.make_sequences(np.array([a]), np.array([b]), op, seq_len) for a, op, b in parsed])
    answers = decode_answers(params, config, rows[:, :-1])
    lines = ["problem   model  true", "-" * 24]
    for (a, op, b), answer in zip(parsed, answers):
        truth = str(int(data_lib.apply_operator(np.array([a]), np.array([b]), op)[0]))
        mark = "right" if answer == truth else "WRONG"
        lines.append(f"{f'{a}{op}{b}':<9} {answer:>5}  {truth:>4}  {mark}")
    n_right = sum(line.endswith("right") for line in lines)
    lines.append(f"{n_right}/{len(parsed)} right")
    return "\n".join(lines)


def run_summary(params, config: ModelConfig, history, hardware: str) -> dict:
    """The numbers a rung reports: parameters, final losses, exact accuracy on the whole test set,
    wall time (compile included) and the hardware line."""
    from .model import count_params
    return {"params": count_params(params), "epochs": history.epoch[-1],
            "train_loss": history.train_loss[-1], "test_loss": history.test_loss[-1],
            "test_answer_loss": history.test_answer_loss[-1], "test_accuracy": history.test_accuracy[-1],
            "seconds": history.seconds[-1], "hardware": hardware}


def summary_table(summaries: dict) -> str:
    """``{label: run_summary(...)}`` -> a plain-text table, one row per run."""
    header = f"{'run':<22}{'params':>8}{'epochs':>7}{'train':>9}{'test':>9}{'test ans':>10}{'exact %':>9}{'wall s':>8}"
    lines = [header, "-" * len(header)]
    for label, s in summaries.items():
        lines.append(f"{label:<22}{s['params']:>8,}{s['epochs']:>7}{s['train_loss']:>9.4f}{s['test_loss']:>9.4f}"
                     f"{s['test_answer_loss']:>10.2e}{100 * s['test_accuracy']:>9.2f}{s['seconds']:>8.1f}")
    lines.append(f"hardware: {next(iter(summaries.values()))['hardware']}")
    return "\n".join(lines)
