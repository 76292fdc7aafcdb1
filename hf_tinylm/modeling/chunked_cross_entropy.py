"""Cross-entropy of a linear layer's logits, a slice of tokens at a time, so the logits never exist all at once.

A causal LM's loss needs ``logits = h @ W.T`` for every token: with GPT-2's 50,257-word vocabulary that is
tokens × 50,257 float32 numbers (411 MB for 8 × 256 tokens), and autograd keeps a log-softmax and a gradient of
the same size beside it. Here, in forward, each slice of tokens has its logits formed, reduced to the slice's
loss, turned in place into d loss / d logits and multiplied into the gradients of ``h`` and ``W``, then dropped
(the "fused linear cross-entropy" of Liger-Kernel and Apple's cut-cross-entropy, in plain torch ops so it runs on
CPU and GPU alike). Backward only scales the stored gradients by the incoming one. Memory: one slice of logits and
a ``W``-sized gradient; the three matrix products are the ones the plain path does, so nothing is recomputed.

The arithmetic is transformers' ``ForCausalLMLoss``: labels shifted by one, tokens labelled ``ignore_index`` left
out, the mean over the others (or their sum divided by ``num_items_in_batch``), the logits upcast to float32
before the softmax whatever dtype the matrix product ran in (bfloat16 under autocast, as ``nn.Linear`` would).
"""

import torch

# A slice's float32 logits take about this many bytes, in one buffer reused by every slice (a fresh allocation this
# large is page-faulted in on CPU, ~0.4 ms a MB here). Measured on 2 EPYC cores, 8 x 256 tokens, GPT-2's vocabulary,
# loss and both gradients: 1.40 s with 26 MB slices, 1.22 s with 51 MB, 1.23 s with 103 MB, 1.39 s with 206 MB
# (the logits path: 2.21 s). Smaller slices run the matrix products below full speed.
SLICE_BYTES = 64 * 2**20


def tokens_per_slice(vocab_size: int) -> int:
    tokens = max(1, SLICE_BYTES // (4 * vocab_size))
    # A multiple of 64: BLAS blocks the products by such sizes. 333 tokens (64 MB at GPT-2's vocabulary) ran the loss
    # in 1.78 s, 320 or 384 tokens in 1.46 s (medians, same run).
    return tokens // 64 * 64 if tokens >= 64 else tokens


class LinearCrossEntropy(torch.autograd.Function):
    """``sum of cross_entropy(hidden @ weight.T, targets) over counted tokens / denominator``, its gradients made in
    forward; hidden [tokens, hidden_size], weight [vocab, hidden_size], targets [tokens]. The products run in
    ``matmul_dtype`` (autocast's, as nn.Linear would); the gradients come back in the inputs' own dtypes."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, denominator, ignore_index: int, slice_tokens: int, matmul_dtype):
        want_hidden, want_weight = ctx.needs_input_grad[:2]
        ctx.weight_dtype = weight.dtype
        counted = targets != ignore_index
        # Ignored tokens still go through the matrix products (keeping only the counted rows would need their number
        # on the host, a sync on accelerators); they read row 0 as a stand-in target and weigh nothing.
        targets = targets.masked_fill(~counted, 0)
        # d loss / d logits of a counted token is (softmax - one_hot) / denominator.
        token_weight = counted.to(torch.float32) / denominator
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        # float32 whatever the matmul dtype: the slices' contributions add up without bfloat16 rounding in between,
        # and a float32 weight gets its gradient as it is (no bfloat16 copy, no cast back in autograd).
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        # Cast here, not in the graph: the bfloat16 copy of the weight lives only during this forward.
        hidden_in, weight_in = hidden.to(matmul_dtype), weight.to(matmul_dtype)
        vocab, most = weight.shape[0], min(slice_tokens, hidden.shape[0])
        buffer = torch.empty(vocab * most, dtype=torch.float32, device=hidden.device)
        # bfloat16 products write here, then the same buffer takes the bfloat16 gradient of the logits.
        low = None
        if matmul_dtype != torch.float32:
            low = torch.empty(vocab * most, dtype=matmul_dtype, device=hidden.device)
        # autocast must not recast the float32 parts (the dtypes are chosen above).
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], slice_tokens):
                rows = slice(start, start + slice_tokens)
                h, target = hidden_in[rows], targets[rows]
                tokens = torch.arange(h.shape[0], device=h.device)
                # The logits transposed, [vocab, tokens]: W @ h.T runs ~1.5x faster than h @ W.T on CPU BLAS (measured
                # with both writing into the same buffer), and the reductions over the vocabulary then read whole rows
                # of contiguous tokens. float32 from here on, as ForCausalLMLoss upcasts.
                logits = buffer[: vocab * h.shape[0]].view(vocab, h.shape[0])
                if low is None:
                    torch.mm(weight_in, h.t(), out=logits)
                else:
                    low_logits = low[: vocab * h.shape[0]].view(vocab, h.shape[0])
                    logits.copy_(torch.mm(weight_in, h.t(), out=low_logits))
                column_max = logits.amax(dim=0)
                target_logit = logits[target, tokens]
                # exp(logits - max) in place: the logits are not needed again, and no second slice-sized buffer is made.
                exps = logits.sub_(column_max).exp_()
                sums = exps.sum(dim=0)
                token_loss = column_max + sums.log() - target_logit  # logsumexp - target logit
                loss += torch.where(counted[rows], token_loss, 0.0).sum()
                if grad_hidden is None and grad_weight is None:
                    continue
                # softmax - one_hot = (exps - sums * one_hot) / sums: one element a token changes, and 1/sums with the
                # token weight goes onto the small [tokens, hidden_size] side of each product, never over the slice.
                exps[target, tokens] -= sums
                scale = (token_weight[rows] / sums)[:, None]
                if low is not None:
                    exps = low_logits.copy_(exps)
                if grad_hidden is not None:
                    grad_hidden[rows] = (exps.t() @ weight_in).float().mul_(scale)
                if grad_weight is not None:
                    scaled = (h.float() * scale).to(matmul_dtype)
                    if low is None:
                        grad_weight.addmm_(exps, scaled)  # accumulates in place: no W-sized temporary
                    else:
                        grad_weight += exps @ scaled
        ctx.save_for_backward(grad_hidden, grad_weight)
        return loss / denominator

    @staticmethod
    def backward(ctx, grad_loss):
        # The gradients are scaled in place and handed on (a weight-sized copy would raise the step's peak): a second
        # backward through a retained graph would find them scaled already, so it is refused.
        if getattr(ctx, "handed_on", False):
            raise RuntimeError("the chunked loss supports one backward per forward; for more, set chunked_loss=False")
        ctx.handed_on = True
        grad_hidden, grad_weight = ctx.saved_tensors
        # grad_loss is 1 for a loss backpropagated as it is; a scaled loss (accumulation, loss scaling) scales these.
        if grad_hidden is not None:
            grad_hidden = grad_hidden.mul_(grad_loss.to(grad_hidden.dtype))
        if grad_weight is not None:
            grad_weight = grad_weight.mul_(grad_loss).to(ctx.weight_dtype)
        return grad_hidden, grad_weight, None, None, None, None, None


def linear_cross_entropy_loss(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor = None,
    num_items_in_batch=None,
    ignore_index: int = -100,
    shift_labels: torch.Tensor = None,
    slice_tokens: int = None,
    **unused,
) -> torch.Tensor:
    """``ForCausalLMLoss(hidden_states @ weight.T, labels, ...)`` without the logits (same arguments; other keyword
    arguments are ignored, as there). hidden_states [batch, length, hidden_size]; labels [batch, length]."""
    if shift_labels is None:
        # Position i predicts token i + 1; the last position predicts nothing (ForCausalLMLoss labels it ignored).
        hidden_states, targets = hidden_states[:, :-1], labels[..., 1:]
    else:
        targets = shift_labels
    hidden = hidden_states.reshape(-1, hidden_states.shape[-1])
    targets = targets.reshape(-1).to(hidden.device)
    if num_items_in_batch is None:
        denominator = (targets != ignore_index).sum()  # the mean over counted tokens (no token: 0/0, NaN, as torch)
    else:
        denominator = torch.as_tensor(num_items_in_batch, device=hidden.device)
    device_type = hidden.device.type
    # nn.Linear's matmul dtype: autocast's where it is on, else the inputs' own.
    enabled = torch.is_autocast_enabled(device_type)
    matmul_dtype = torch.get_autocast_dtype(device_type) if enabled else hidden.dtype
    if not torch.is_grad_enabled():
        hidden, weight = hidden.detach(), weight.detach()  # nothing will ask for gradients: skip making them
    if slice_tokens is None:
        slice_tokens = tokens_per_slice(weight.shape[0])
    return LinearCrossEntropy.apply(
        hidden, weight, targets, denominator.to(torch.float32), ignore_index, slice_tokens, matmul_dtype
    )
