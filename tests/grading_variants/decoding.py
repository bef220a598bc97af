"""Chapter 10 and 11 variants: greedy_decode and beam_step."""

import torch

from course_lib.masks import causal_mask

from . import correct, wrong

GD, BS = "decoding.greedy_decode", "decoding.beam_step"


def _greedy(model, src, max_len, *, bos_id, eos_id, src_mask=None, position=-1, causal=True,
            pad_finished=True, use_mask=True, keep_bos=False):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            pad = model.config.pad_id
            if src_mask is None:
                src_mask = (src != pad)[:, None, :]
            if not use_mask:
                src_mask = None
            memory = model.encode(src, src_mask)
            ys = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
            finished = torch.zeros(src.shape[0], dtype=torch.bool)
            for _ in range(max_len):
                mask = causal_mask(ys.shape[1]) if causal else None
                nxt = model.decode(ys, memory, mask, src_mask)[:, position].argmax(-1)
                if pad_finished:
                    nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
                ys = torch.cat([ys, nxt[:, None]], dim=1)
                finished = finished | (nxt == eos_id)
                if finished.all():
                    break
    finally:
        model.train(was_training)
    return ys if keep_bos else ys[:, 1:]


def gd_vectorised(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    return _greedy(model, src, max_len, bos_id=bos_id, eos_id=eos_id, src_mask=src_mask)


def gd_list(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    was = model.training
    model.eval()
    pad = model.config.pad_id
    with torch.inference_mode():
        mask = src_mask if src_mask is not None else (src != pad).unsqueeze(1)
        memory = model.encode(src, mask)
        rows = [[bos_id] for _ in range(src.shape[0])]
        done = [False] * src.shape[0]
        for _ in range(max_len):
            ys = torch.tensor(rows)
            logits = model.decode(ys, memory, causal_mask(ys.shape[1]), mask)
            for b, tok in enumerate(logits[:, -1].argmax(-1).tolist()):
                rows[b].append(pad if done[b] else tok)
                done[b] = done[b] or tok == eos_id
            if all(done):
                break
    model.train(was)
    return torch.tensor(rows)[:, 1:]


def gd_first_position(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    return _greedy(model, src, max_len, bos_id=bos_id, eos_id=eos_id, src_mask=src_mask, position=0)


def gd_no_pad(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    return _greedy(model, src, max_len, bos_id=bos_id, eos_id=eos_id, src_mask=src_mask, pad_finished=False)


def gd_keeps_bos(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    return _greedy(model, src, max_len, bos_id=bos_id, eos_id=eos_id, src_mask=src_mask, keep_bos=True)


def gd_no_causal(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    return _greedy(model, src, max_len, bos_id=bos_id, eos_id=eos_id, src_mask=src_mask, causal=False)


def gd_train_mode(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    out = _greedy(model, src, max_len, bos_id=bos_id, eos_id=eos_id, src_mask=src_mask)
    model.eval()  # forgets to restore the mode
    return out


def _beam(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0,
          per_beam=False, penalised_score=False, accumulate=True, old_length=False):
    B, K, V = log_probs.shape
    base = scores if accumulate else torch.zeros_like(scores)
    total = base[..., None] + log_probs
    only_pad = torch.full_like(total, float("-inf"))
    only_pad[..., pad_id] = base
    total = torch.where(finished[..., None], only_pad, total)
    new_len = lengths if old_length else lengths + (~finished).long()
    lp = ((5 + new_len.double()) / 6) ** length_penalty
    rank = (total / lp[..., None]).reshape(B, K * V)
    k = min(beam_size, K * V)
    if per_beam:
        per = rank.view(B, K, V).topk(max(1, k // K), dim=-1)  # each beam's own best tokens
        flat = (per.indices + torch.arange(K)[None, :, None] * V).flatten(1)
        idx = flat.gather(1, rank.gather(1, flat).argsort(dim=1, descending=True))[:, :k]
    else:
        idx = rank.topk(k, dim=-1).indices
    raw = (rank if penalised_score else total.reshape(B, K * V)).gather(1, idx)
    return idx // V, idx % V, raw


def bs_flat(*args, **kwargs):
    return _beam(*args, **kwargs)


def bs_loops(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    B, K, V = log_probs.shape
    beams, tokens, raws = [], [], []
    for b in range(B):
        cands = []
        for k in range(K):
            if finished[b, k]:
                cands.append((scores[b, k].item() / ((5 + lengths[b, k].item()) / 6) ** length_penalty,
                              k, pad_id, scores[b, k].item()))
                continue
            lp = ((5 + lengths[b, k].item() + 1) / 6) ** length_penalty
            for w in range(V):
                s = (scores[b, k] + log_probs[b, k, w]).item()
                cands.append((s / lp, k, w, s))
        cands.sort(key=lambda c: -c[0])
        top = cands[:min(beam_size, K * V)]
        beams.append([c[1] for c in top])
        tokens.append([c[2] for c in top])
        raws.append([c[3] for c in top])
    width = min(len(r) for r in raws)
    return (torch.tensor([r[:width] for r in beams]), torch.tensor([r[:width] for r in tokens]),
            torch.tensor([r[:width] for r in raws], dtype=log_probs.dtype))


def bs_per_beam(*args, **kwargs):
    return _beam(*args, **kwargs, per_beam=True)


def bs_penalised_score(*args, **kwargs):
    return _beam(*args, **kwargs, penalised_score=True)


def bs_not_accumulated(*args, **kwargs):
    return _beam(*args, **kwargs, accumulate=False)


def bs_old_length(*args, **kwargs):
    return _beam(*args, **kwargs, old_length=True)


VARIANTS = [
    correct(GD, "tensor ops with a finished vector", gd_vectorised),
    correct(GD, "python lists, inference_mode", gd_list),
    wrong(GD, "first position's logits", gd_first_position, "first position"),
    wrong(GD, "finished rows keep generating", gd_no_pad, "pad"),
    wrong(GD, "keeps <bos>", gd_keeps_bos, "<bos>"),
    wrong(GD, "no causal mask", gd_no_causal, "causal"),
    wrong(GD, "mode not restored", gd_train_mode, "mode"),
    correct(BS, "flattened topk", bs_flat),
    correct(BS, "python loops and sort", bs_loops),
    wrong(BS, "per beam", bs_per_beam, "per beam"),
    wrong(BS, "penalised score returned", bs_penalised_score, "penalised"),
    wrong(BS, "scores not accumulated", bs_not_accumulated, "accumulated"),
    wrong(BS, "old length", bs_old_length, "length"),
]
