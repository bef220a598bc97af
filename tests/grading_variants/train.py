"""Chapter 11 variants: label_smoothed_loss, noam_lr, model_flops."""

import torch
import torch.nn.functional as F

from . import correct, wrong

LS, NL, MF = "train.label_smoothed_loss", "train.noam_lr", "train.model_flops"


def ls_log_softmax(logits, target, *, smoothing=0.1, ignore_index=-100):
    logp = torch.log_softmax(logits, -1)
    keep = target != ignore_index
    safe = target.masked_fill(~keep, 0)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    per = (1 - smoothing) * nll - smoothing * logp.mean(-1)
    return per[keep].mean()


def ls_soft_targets(logits, target, *, smoothing=0.1, ignore_index=-100):
    V = logits.shape[-1]
    keep = (target != ignore_index).flatten()
    flat, tgt = logits.flatten(0, -2)[keep], target.flatten()[keep]
    q = torch.full_like(flat, smoothing / V)
    q[torch.arange(len(tgt)), tgt] += 1 - smoothing
    return -(q * (flat - flat.logsumexp(-1, keepdim=True))).sum(-1).mean()


def ls_cross_entropy(logits, target, *, smoothing=0.1, ignore_index=-100):
    return F.cross_entropy(logits.flatten(0, -2), target.flatten(), label_smoothing=smoothing,
                           ignore_index=ignore_index)


def ls_float(logits, target, *, smoothing=0.1, ignore_index=-100):
    return ls_log_softmax(logits, target, smoothing=smoothing, ignore_index=ignore_index).item()


def ls_v_minus_one(logits, target, *, smoothing=0.1, ignore_index=-100):
    logp = torch.log_softmax(logits, -1)
    V = logits.shape[-1]
    keep = target != ignore_index
    safe = target.masked_fill(~keep, 0)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    others = (-logp.sum(-1) - nll) / (V - 1)
    return ((1 - smoothing) * nll + smoothing * others)[keep].mean()


def ls_log_of_softmax(logits, target, *, smoothing=0.1, ignore_index=-100):
    logp = torch.log(torch.softmax(logits, -1))
    keep = target != ignore_index
    safe = target.masked_fill(~keep, 0)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return ((1 - smoothing) * nll - smoothing * logp.mean(-1))[keep].mean()


def ls_mean_all(logits, target, *, smoothing=0.1, ignore_index=-100):
    logp = torch.log_softmax(logits, -1)
    keep = target != ignore_index
    safe = target.masked_fill(~keep, 0)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (((1 - smoothing) * nll - smoothing * logp.mean(-1)) * keep).sum() / target.numel()


def nl_formula(step, *, d_model, warmup, factor=1.0):
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def nl_branches(step, *, d_model, warmup, factor=1.0):
    if step < warmup:
        return float(factor * step / (warmup**1.5 * d_model**0.5))
    return float(factor / (step * d_model) ** 0.5)


def nl_max(step, *, d_model, warmup, factor=1.0):
    return factor * d_model**-0.5 * max(step**-0.5, step * warmup**-1.5)


def nl_zero_based(step, *, d_model, warmup, factor=1.0):
    return nl_formula(step + 1, d_model=d_model, warmup=warmup, factor=factor)


def nl_tensor(step, *, d_model, warmup, factor=1.0):
    step = torch.tensor(float(step), dtype=torch.float64)  # a 0-d tensor, not the float the task asks for
    return factor * d_model**-0.5 * torch.minimum(step**-0.5, step * warmup**-1.5)


def nl_no_factor(step, *, d_model, warmup, factor=1.0):
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def _flops(config, S, T, *, backward=3, attention=True, output=True, cross_kv_on="S", mac=2):
    d, f, n, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size

    def mm(m, k, out):
        return mac * m * k * out

    enc = n * (4 * mm(S, d, d) + mm(S, d, f) + mm(S, f, d) + (2 * mm(S, d, S) if attention else 0))
    kv = S if cross_kv_on == "S" else T
    dec = n * (4 * mm(T, d, d) + 2 * mm(T, d, d) + 2 * mm(kv, d, d) + mm(T, d, f) + mm(T, f, d)
               + ((2 * mm(T, d, T) + 2 * mm(T, d, S)) if attention else 0))
    return backward * (enc + dec + (mm(T, d, V) if output else 0))


def mf_counts(config, *, src_len, tgt_len):
    return _flops(config, src_len, tgt_len)


def mf_closed_form(config, *, src_len, tgt_len):
    d, f, n, V, S, T = config.d_model, config.d_ff, config.num_layers, config.vocab_size, src_len, tgt_len
    forward = 2 * n * (S * (4 * d * d + 2 * d * f + 2 * S * d)
                       + T * (6 * d * d + 2 * d * f + 2 * T * d + 2 * S * d) + S * 2 * d * d) + 2 * T * d * V
    return 3 * forward


def mf_forward_only(config, *, src_len, tgt_len):
    return _flops(config, src_len, tgt_len, backward=1)


def mf_no_attention(config, *, src_len, tgt_len):
    return _flops(config, src_len, tgt_len, attention=False)


def mf_cross_on_target(config, *, src_len, tgt_len):
    return _flops(config, src_len, tgt_len, cross_kv_on="T")


VARIANTS = [
    correct(LS, "log_softmax and gather", ls_log_softmax),
    correct(LS, "soft target distribution", ls_soft_targets),
    wrong(LS, "returns a float", ls_float, "tensor|backward"),
    wrong(LS, "calls F.cross_entropy, which the task forbids", ls_cross_entropy, "calls PyTorch's cross-entropy"),
    wrong(LS, "spread over V - 1", ls_v_minus_one, "V - 1"),
    wrong(LS, "log of softmax", ls_log_of_softmax, "log_softmax|overflow"),
    wrong(LS, "padding in the mean", ls_mean_all, "padding"),
    correct(NL, "min formula", nl_formula),
    correct(NL, "two branches", nl_branches),
    wrong(NL, "max", nl_max, "max instead of min"),
    wrong(NL, "steps from 0", nl_zero_based, "off by one"),
    wrong(NL, "factor ignored", nl_no_factor, "factor"),
    wrong(NL, "a 0-d tensor", nl_tensor, "not a tensor"),
    correct(MF, "per-matmul counts", mf_counts),
    correct(MF, "closed form", mf_closed_form),
    wrong(MF, "forward only", mf_forward_only, "forward pass only"),
    wrong(MF, "no attention matmuls", mf_no_attention, "attention matmuls"),
    wrong(MF, "cross-attention K, V on the target", mf_cross_on_target, "memory"),
]
