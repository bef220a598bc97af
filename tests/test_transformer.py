"""Tests of course_lib.transformer and course_lib.decode against torch.nn and hand-made checks."""

import pytest
import torch
from torch import nn

from course_lib.decode import greedy_decode
from course_lib.masks import causal_mask, padding_mask, to_torch_mask
from course_lib.transformer import DecoderLayer, EncoderLayer, Transformer, TransformerConfig

D, H, FF = 16, 4, 32


def _tiny(**kwargs) -> TransformerConfig:
    base = dict(vocab_size=23, d_model=D, num_heads=H, d_ff=FF, num_layers=2, dropout=0.0, max_len=32)
    return TransformerConfig(**{**base, **kwargs})


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_match_torch_smoke(norm_first):
    torch.manual_seed(0)
    enc = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first).double()
    dec = nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first).double()
    x, y = torch.randn(2, 5, D, dtype=torch.double), torch.randn(2, 4, D, dtype=torch.double)
    pad, causal = padding_mask([5, 3], 5), causal_mask(4)
    torch.testing.assert_close(
        EncoderLayer.from_torch(enc)(x, pad), enc(x, src_key_padding_mask=to_torch_mask(pad, key_padding=True)))
    torch.testing.assert_close(
        DecoderLayer.from_torch(dec)(y, x, causal, pad),
        dec(y, x, tgt_mask=to_torch_mask(causal), memory_key_padding_mask=to_torch_mask(pad, key_padding=True)))


def test_transformer_and_greedy_decode_smoke():
    torch.manual_seed(0)
    model = Transformer(_tiny())
    src = torch.randint(4, 23, (3, 6))
    assert model(src, torch.randint(4, 23, (3, 5))).shape == (3, 5, 23)
    out = greedy_decode(model, src, 7, bos_id=1, eos_id=2)
    assert out.shape[0] == 3 and 1 <= out.shape[1] <= 7
