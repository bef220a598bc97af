"""What the model learned: held-out scores and attention maps.

:func:`evaluate` scores a model on held-out numbers (teacher-forced loss and token
accuracy, greedy exact match); :func:`attention_maps` collects every layer's attention
weights for one translation pair (:class:`AttentionMaps`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.data import JOINT_VOCAB, Vocab, make_batch
from course_lib.decoding import greedy_decode
from course_lib.train.recipe import label_smoothed_loss
from course_lib.transformer import Transformer


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: Transformer, numbers: Sequence[int], *, direction: str = "en-zh",
             device: torch.device | str = "cpu", batch_size: int = 500, amp: bool = False,
             return_predictions: bool = False) -> dict:
    """Score a model on held-out numbers: teacher-forced token accuracy and greedy exact match.

    Parameters
    ----------
    model : Transformer
        Trained on :data:`JOINT_VOCAB` ids; put in eval mode for the call, then restored.
    numbers : sequence of int
        E.g. ``make_splits(...).test_uniform``.
    direction : {"en-zh", "zh-en"}
    device : torch.device or str
        Where ``model`` lives.
    batch_size : int
        Numbers per forward pass.
    amp : bool
        bf16 autocast (CUDA only).
    return_predictions : bool
        Also return each number's greedy translation and whether it was exactly right.

    Returns
    -------
    dict
        ``loss`` (plain cross-entropy per target token, teacher-forced), ``token_accuracy``
        (share of target tokens, ``<eos>`` included, whose argmax is right when the model
        is given the true prefix), ``exact_match`` (share of numbers whose greedy
        translation equals the reference exactly), ``n``; with ``return_predictions``, also
        ``predictions`` (list of str) and ``correct`` (list of bool).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum = correct_tokens = tokens = 0.0
    predictions: list[str] = []
    correct: list[bool] = []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")
    try:
        for start in range(0, len(numbers), batch_size):
            batch = make_batch(numbers[start:start + batch_size], direction=direction,
                               shared_vocab=True).to(device)
            batch_loss, batch_correct, batch_tokens, texts, oks = _score_batch(model, batch, autocast)
            loss_sum += batch_loss
            correct_tokens += batch_correct
            tokens += batch_tokens
            predictions += texts
            correct += oks
    finally:
        model.train(was_training)
    result = {"loss": loss_sum / tokens, "token_accuracy": correct_tokens / tokens,
              "exact_match": sum(correct) / len(numbers), "n": len(numbers)}
    if return_predictions:
        result.update(predictions=predictions, correct=correct)
    return result


def _score_batch(model: Transformer, batch, autocast) -> tuple[float, float, float, list[str], list[bool]]:
    """One batch's summed loss, right target tokens, target tokens, greedy translations and their verdicts."""
    with autocast:
        logits = model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (B, T, V)
        # Decoding reads only the source: at most twice its length, never the target's.
        out = greedy_decode(model, batch.src, 2 * batch.src.shape[1] + 2, bos_id=Vocab.BOS,
                            eos_id=Vocab.EOS, src_mask=batch.src_mask)  # (B, <= L)
    real = batch.tgt_out != Vocab.PAD  # (B, T)
    loss_sum = label_smoothed_loss(logits, batch.tgt_out, smoothing=0.0, ignore_index=Vocab.PAD,
                                   reduction="sum").item()
    correct_tokens = ((logits.argmax(-1) == batch.tgt_out) & real).sum().item()
    texts = [JOINT_VOCAB.to_text(row) for row in out.tolist()]
    oks = [text == JOINT_VOCAB.to_text(ref) for text, ref in zip(texts, batch.tgt_out.tolist())]
    return loss_sum, correct_tokens, real.sum().item(), texts, oks


# --------------------------------------------------------------------------- what the model learned


@dataclass
class AttentionMaps:
    """The attention weights of one translation pair, layer by layer (see :func:`attention_maps`).

    Attributes
    ----------
    cross : Tensor, shape (N, H, T, S)
        Decoder cross-attention of each of the ``N`` layers: target position × source token.
    encoder_self : Tensor, shape (N, H, S, S)
        Encoder self-attention of each layer.
    decoder_self : Tensor, shape (N, H, T, T)
        Decoder (causal) self-attention of each layer: target position × earlier target position.
    src_tokens, tgt_tokens : list of str
        The source tokens, and the target token each decoder row predicts (``<eos>`` last).
    logits : Tensor, shape (1, T, V)
        The model's output for the pair, to check against the fast path.
    """

    cross: Tensor
    encoder_self: Tensor
    decoder_self: Tensor
    src_tokens: list[str]
    tgt_tokens: list[str]
    logits: Tensor


def attention_maps(model: Transformer, number: int, *, direction: str = "en-zh") -> AttentionMaps:
    """Translate one number with teacher forcing and collect every layer's attention weights.

    The fast path (``fast=True``) never forms the weights, so this runs a CPU copy of
    ``model`` on the explicit path: same parameters, same outputs, weights kept.

    Parameters
    ----------
    model : Transformer
        A trained model (on any device; it is not modified).
    number : int
        The number whose translation pair is run.
    direction : {"en-zh", "zh-en"}

    Returns
    -------
    AttentionMaps
    """
    viewer = Transformer(dataclasses.replace(model.config, fast=False))
    viewer.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    viewer.eval()
    batch = make_batch([number], direction=direction, shared_vocab=True)
    with torch.no_grad():
        logits = viewer(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (1, T, V)
    return AttentionMaps(
        cross=torch.stack([layer.cross_attn_weights[0] for layer in viewer.decoder.layers]),
        encoder_self=torch.stack([layer.self_attn_weights[0] for layer in viewer.encoder.layers]),
        decoder_self=torch.stack([layer.self_attn_weights[0] for layer in viewer.decoder.layers]),
        src_tokens=[JOINT_VOCAB.itos[i] for i in batch.src[0].tolist()],
        tgt_tokens=[JOINT_VOCAB.itos[i] for i in batch.tgt_out[0].tolist()],  # row t predicts tgt_out[t]
        logits=logits,
    )
