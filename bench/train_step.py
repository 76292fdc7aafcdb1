"""One training step (forward, backward, AdamW): TinyLM vs ``LlamaForCausalLM`` holding the same weights.

The model is issue 15's: hidden 256, 8 layers, 8 heads in 2 key/value groups, SwiGLU 768, GPT-2's vocabulary of
50,257, tied embeddings (18.9M parameters); ``model(input_ids=, labels=).loss`` as transformers' Trainer calls it.
Rows, timed in turn step by step (A B B A ... after warm-up, so drift in the machine's speed hits both alike):

- ``TinyLM``: our model as it trains by default (the loss from the last hidden states, a slice of tokens at a
  time, no logits: hf_tinylm/modeling/chunked_cross_entropy.py);
- ``TinyLM, logits path`` (``--logits-path``): the same model with ``chunked_loss=False`` (transformers' way);
- ``TinyLM compiled`` (``--compile``): ``model.compile()`` (in place: parameter names stay those of the eager model);
- ``Llama``: transformers' ``LlamaForCausalLM`` with TinyLM's weights (``conversion.llama.to_llama``).

Columns: tokens/s (median and best step); MFU, the model's FLOPs per step (6 × tokens × matmul parameters, the
LM head included, + 12 × layers × length × hidden per token for attention, as in the PaLM paper) over the step time
and a GEMM peak timed in the same run (a large square matmul in the step's dtype, its fastest layout); peak
memory. The first step's loss of every row is printed beside it: with the same weights and batch the rows must agree.

Peak memory: ``state`` is the weights and AdamW's two moments (the same for every row); ``step`` is how far memory
rises above that during one step, the gradients included (they are set to None before each step). On CUDA:
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was allocated before. On CPU: the
resident set's high-water mark (VmHWM in /proc/self/status, reset by writing 5 to /proc/self/clear_refs, Linux ≥ 4.0)
minus the resident set before the step, after ``malloc_trim`` has handed freed heap memory back to the system so
that none of it is silently reused; where the reset is refused, a thread sampling /proc/self/statm every
millisecond. The memory is measured on extra steps, never on the timed ones (the trim would slow those).

    python bench/train_step.py                                   # 8 × 256, float32 (a few minutes on 2 cores)
    python bench/train_step.py --batch 16 --length 512 --dtype float32 bfloat16
    python bench/train_step.py --compile --logits-path           # every row
    python bench/train_step.py --device cuda --dtype bfloat16    # where a GPU is present
    python bench/train_step.py --quick                           # smoke run: a tiny model, two steps
"""

import argparse
import contextlib
import copy
import ctypes
import gc
import os
import platform
import statistics
import sys
import threading
import time

import torch
from tqdm import tqdm

# Run as a script, Python puts bench/ first on the path, where a module may shadow a package (bench/tokenizers.py
# shadows `tokenizers`): look up the repository root instead.
_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != _BENCH_DIR]
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import transformers  # noqa: E402

from conversion.llama import to_llama  # noqa: E402
from hf_tinylm import TinyLMConfig, TinyLMForCausalLM  # noqa: E402

# Issue 15's model; --quick shrinks it to a smoke test.
FULL = dict(hidden_size=256, num_layers=8, ffn_dim=768, vocab_size=50257)
QUICK = dict(hidden_size=64, num_layers=2, ffn_dim=192, vocab_size=1000)


def tinylm_config(hidden_size: int, num_layers: int, ffn_dim: int, vocab_size: int, **fields) -> TinyLMConfig:
    return TinyLMConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        max_position_embeddings=2048,
        positional_encoding_type="rope",
        core={
            "core_type": "generic",
            "num_layers": num_layers,
            "attention": {"num_heads": 8, "group_size": 4, "normalization": "rms_norm", "bias": False},
            "ffn": {"ffn_type": "swiglu", "ffn_dim": ffn_dim, "normalization": "rms_norm", "bias": False},
        },
        head={"normalization": "rms_norm", "bias": False},
        tie_word_embeddings=True,
        **fields,
    )


# ---- measurements ---------------------------------------------------------------------------------------------------
def gemm_peak(dtype: torch.dtype, device: str, size: int, repeats: int = 5) -> float:
    """FLOP/s of a square matmul in ``dtype``: the ceiling MFU is read against. The best over repeats and over the
    four layouts (a @ b, a @ b.T, a.T @ b, a.T @ b.T): on a CPU without bfloat16 units, oneDNN's bfloat16 speed
    depends on the layout (docs/benchmarks.md: 1.3 GFLOP/s for a @ b alone, 16.7 for the fastest), and a model's
    step uses several. The side doubles from 256 up to ``size`` while every layout's product takes under 0.1 s (a 2048-square
    bfloat16 product in the slow layouts would take a quarter of a minute there)."""

    def best_and_slowest(side: int, rounds: int) -> tuple:
        """The best time over layouts and repeats, and the slowest layout's best."""
        a = torch.randn(side, side, device=device).to(dtype)
        b = torch.randn(side, side, device=device).to(dtype)
        per_layout = []
        for left, right in ((a, b), (a, b.t()), (a.t(), b), (a.t(), b.t())):
            best = float("inf")
            for _ in range(rounds + 1):  # the first call warms up (kernels chosen, pages touched)
                synchronize(device)
                start = time.perf_counter()
                left @ right
                synchronize(device)
                best = min(best, time.perf_counter() - start)
            per_layout.append(best)
        return min(per_layout), max(per_layout)

    side = 256
    while side < size and best_and_slowest(side, 1)[1] < 0.1:
        side *= 2
    return 2 * side**3 / best_and_slowest(side, repeats)[0]


def synchronize(device: str):
    if device == "cuda":
        torch.cuda.synchronize()


def step_flops(model, tokens: int, length: int) -> float:
    """6 × tokens × matmul weights (a tied head counts as the matmul it is) + attention's
    12 × layers × length × hidden per token."""
    matmul = sum(module.weight.numel() for module in model.modules() if isinstance(module, torch.nn.Linear))
    config = model.config
    return 6 * tokens * matmul + 12 * config.num_hidden_layers * length * config.hidden_size * tokens


def state_bytes(model, optimizer) -> int:
    """Weights (a tied matrix once) and the optimizer's state tensors."""
    tensors = {parameter.data_ptr(): parameter for parameter in model.parameters()}
    for state in optimizer.state.values():
        tensors.update({value.data_ptr(): value for value in state.values() if torch.is_tensor(value) and value.ndim})
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())


class CpuPeakMemory:
    """Peak rise of the resident set during a block (see the module doc)."""

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self):
        try:
            self._trim = ctypes.CDLL("libc.so.6").malloc_trim
        except OSError:  # not glibc: nothing to trim
            self._trim = lambda pad: 0
        self.method = "VmHWM reset through /proc/self/clear_refs"
        try:
            self._reset_high_water_mark()
        except OSError:
            self.method = "/proc/self/statm sampled every millisecond"

    @staticmethod
    def _reset_high_water_mark():
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")

    def _resident(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.PAGE

    @staticmethod
    def _high_water_mark() -> int:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise OSError("no VmHWM in /proc/self/status")

    @contextlib.contextmanager
    def measure(self, result: dict):
        gc.collect()
        self._trim(0)
        before = self._resident()
        if self.method.startswith("VmHWM"):
            self._reset_high_water_mark()
            yield
            result["peak"] = self._high_water_mark() - before
            return
        peak, done = [before], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], self._resident())
                time.sleep(0.001)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            done.set()
            sampler.join()
            result["peak"] = max(peak[0], self._resident()) - before


class CudaPeakMemory:
    method = "torch.cuda.max_memory_allocated"

    @contextlib.contextmanager
    def measure(self, result: dict):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        yield
        torch.cuda.synchronize()
        result["peak"] = torch.cuda.max_memory_allocated() - before


# ---- the rows -------------------------------------------------------------------------------------------------------
class Candidate:
    """A model with its own AdamW, stepping on the shared batches."""

    def __init__(self, name: str, model, device: str, dtype: torch.dtype):
        self.name, self.model, self.device, self.dtype = name, model.to(device).train(), device, dtype
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.seconds, self.losses, self.peaks = [], [], []

    def step(self, input_ids) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        autocast = (torch.autocast(self.device, dtype=self.dtype) if self.dtype != torch.float32
                    else contextlib.nullcontext())
        with autocast:
            loss = self.model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def timed_step(self, input_ids):
        synchronize(self.device)
        start = time.perf_counter()
        self.losses.append(self.step(input_ids))  # float(loss) waits for the device too
        synchronize(self.device)
        self.seconds.append(time.perf_counter() - start)

    def memory_step(self, input_ids, memory):
        result = {}
        with memory.measure(result):
            self.step(input_ids)
        self.peaks.append(result["peak"])


def build_candidates(args, shape: dict) -> list:
    torch.manual_seed(0)
    tinylm = TinyLMForCausalLM(tinylm_config(**shape))
    llama = to_llama(tinylm)
    candidates = [Candidate("TinyLM", tinylm, args.device, args.dtype)]
    if args.logits_path:
        plain = copy.deepcopy(tinylm)
        plain.config.chunked_loss = False
        candidates.append(Candidate("TinyLM, logits path", plain, args.device, args.dtype))
    if args.compile:
        compiled = copy.deepcopy(tinylm)
        compiled.compile()  # in place: state_dict keys unchanged (no `_orig_mod.` prefix)
        candidates.append(Candidate("TinyLM compiled", compiled, args.device, args.dtype))
    candidates.append(Candidate("Llama", llama, args.device, args.dtype))
    return candidates


def run(args) -> tuple:
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    shape = QUICK if args.quick else FULL
    memory = CudaPeakMemory() if args.device == "cuda" else CpuPeakMemory()
    header = (f"torch {torch.__version__}, transformers {transformers.__version__}, "
              f"{torch.cuda.get_device_name() if args.device == 'cuda' else platform.processor() or platform.machine()}"
              f", {torch.get_num_threads()} threads; memory: {memory.method}")
    print(header)
    rows = []
    for dtype_name in args.dtypes:
        args.dtype = getattr(torch, dtype_name)
        peak_flops = gemm_peak(args.dtype, args.device, 512 if args.quick else 2048)
        print(f"{dtype_name}: GEMM peak {peak_flops / 1e9:.1f} GFLOP/s")
        candidates = build_candidates(args, shape)
        generator = torch.Generator().manual_seed(1)
        batches = [torch.randint(0, shape["vocab_size"], (args.batch, args.length), generator=generator).to(args.device)
                   for _ in range(args.warmup + args.steps + 1)]
        total = (args.warmup + args.steps + 1) * len(candidates)
        progress = tqdm(total=total, desc=f"train step {args.batch}x{args.length} {dtype_name}", unit="step")
        for index, input_ids in enumerate(batches[:-1]):
            # A B ... then ... B A: each candidate runs first as often as last.
            order = candidates if index % 2 == 0 else candidates[::-1]
            for candidate in order:
                progress.set_postfix_str(candidate.name)
                candidate.timed_step(input_ids)
                progress.update(1)
        for candidate in candidates:
            candidate.memory_step(batches[-1], memory)
            progress.update(1)
        progress.close()
        tokens = args.batch * args.length
        reference = candidates[-1]
        for candidate in candidates:
            timed = candidate.seconds[args.warmup:]
            median, best = tokens / statistics.median(timed), tokens / min(timed)
            flops = step_flops(candidate.model, tokens, args.length)
            state = state_bytes(candidate.model, candidate.optimizer)
            rows.append(dict(
                name=candidate.name, shape=f"{args.batch}×{args.length}", dtype=dtype_name, median=median, best=best,
                mfu=flops * median / tokens / peak_flops, state=state, step_peak=candidate.peaks[-1],
                loss=candidate.losses[0], median_seconds=statistics.median(timed),
            ))
        llama_row = next(row for row in rows[-len(candidates):] if row["name"] == reference.name)
        for row in rows[-len(candidates):]:
            row["speed_ratio"] = row["median"] / llama_row["median"]
            row["memory_ratio"] = (row["state"] + row["step_peak"]) / (llama_row["state"] + llama_row["step_peak"])
            row["step_memory_ratio"] = row["step_peak"] / llama_row["step_peak"]
        del candidates
        gc.collect()
    return header, rows


def markdown(rows: list) -> str:
    mb = 2**20
    lines = [
        "| model | batch × length | dtype | tokens/s (median) | best | MFU | peak MB (state + step) | step MB "
        "| × Llama tokens/s | × Llama peak | × Llama step MB | first loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['shape']} | {r['dtype']} | {r['median']:,.0f} | {r['best']:,.0f} "
            f"| {100 * r['mfu']:.0f}% | {(r['state'] + r['step_peak']) / mb:,.0f} ({r['state'] / mb:,.0f} + "
            f"{r['step_peak'] / mb:,.0f}) | {r['step_peak'] / mb:,.0f} | {r['speed_ratio']:.2f} "
            f"| {r['memory_ratio']:.2f} | {r['step_memory_ratio']:.2f} | {r['loss']:.5f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--dtype", dest="dtypes", nargs="+", choices=("float32", "bfloat16"), default=["float32"],
                        help="bfloat16: float32 weights under torch.autocast, as mixed-precision training runs")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    parser.add_argument("--compile", action="store_true", help="add a row for TinyLM under model.compile()")
    parser.add_argument("--logits-path", action="store_true", help="add a row for TinyLM with chunked_loss=False")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="smoke run: a tiny model, 2 × 32 tokens, one warm-up")
    parser.add_argument("--output", help="also write the header and the markdown table to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.length, args.steps, args.warmup = 2, 32, 2, 1
    header, rows = run(args)
    table = markdown(rows)
    print(table)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(f"{header}\n\n{table}\n")


if __name__ == "__main__":
    main()
