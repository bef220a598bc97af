"""Checks for chapter 12's BERT exercise: mask_tokens (15%, then 80/10/10).

Random choices differ between correct implementations, so the checks test the rule's
properties on a large batch (about 15% chosen; of those about 80% ``[MASK]``, 10% random,
10% kept; labels -100 off the chosen positions; each token chosen on its own, so the
count per sequence varies; special tokens never chosen; the generator makes it
reproducible) and name the common mistakes by their statistics.
"""

from __future__ import annotations

import torch

from course_lib.grading.registry import CaseFailed, exercise
from course_lib.i18n import tr

_V, _MASK, _SPECIAL = 1000, 3, (0, 1, 2)


def _batch(g) -> torch.Tensor:
    ids = g.randint(4, _V, 400, 50)  # (400, 50): 20,000 tokens, shares to about ±0.5%
    ids[:, 0], ids[:, -1] = 1, 2  # [CLS]-like and [SEP]-like special tokens
    ids[:50, 40:-1] = 0  # padding
    return ids


def _call(candidate, ids, seed=0, **kw):
    out = candidate(ids, vocab_size=_V, mask_id=_MASK, special_ids=list(_SPECIAL),
                    generator=torch.Generator().manual_seed(seed), **kw)
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise CaseFailed(tr("return a tuple (inputs, labels) of two tensors",
                            "返回由两个张量组成的元组 (inputs, labels)"))
    return out


@exercise("bert.mask_tokens", name="mask_tokens", chapter="12")
def _(candidate, g):
    """mask_tokens(ids, *, vocab_size, mask_id, special_ids, mask_prob, generator) -> (inputs, labels)."""
    ids = _batch(g)
    ordinary = (ids >= 4)
    with g.case(tr("returns (inputs, labels), each an integer tensor shaped like ids",
                   "返回 (inputs, labels)，都是与 ids 形状相同的整数张量")):
        inputs, labels = _call(candidate, ids)
        g.expect(inputs.shape == ids.shape and labels.shape == ids.shape,
                 tr(f"inputs and labels must have ids's shape {tuple(ids.shape)}",
                    f"inputs 和 labels 的形状必须与 ids 相同：{tuple(ids.shape)}"))
        g.expect(not inputs.is_floating_point() and not labels.is_floating_point(), tr("return integer token ids",
                                                                                       "返回整数的词元 id"))
    with g.case(tr("labels: the original token at chosen positions, -100 everywhere else",
                   "labels：被选中的位置是原来的词元，其余位置都是 -100"), points=2):
        inputs, labels = _call(candidate, ids)
        chosen = labels != -100
        g.expect(chosen.float().mean() < 0.5,
                 tr("looks like labels on every position: only the chosen tokens are targets, "
                    "label all others -100 so that cross_entropy ignores them",
                    "看起来每个位置都有标签：只有被选中的词元是预测目标，其余都标为 -100，这样 cross_entropy "
                    "会忽略它们"))
        g.expect(torch.equal(labels[chosen], ids[chosen]),
                 tr("a label must be the ORIGINAL token (from ids), not what the input shows after masking",
                    "标签必须是原来的词元（取自 ids），而不是掩蔽后输入里显示的词元"))
        g.expect(torch.equal(inputs[~chosen], ids[~chosen]),
                 tr("a token that was not chosen must stay unchanged in inputs (apply the 80/10/10 rule "
                    "to the chosen 15% only, not to every token)",
                    "没被选中的词元在 inputs 中必须保持不变（80/10/10 规则只作用于被选中的 15%，"
                    "而不是每个词元）"))
    with g.case(tr("special tokens (padding, [CLS], [SEP]) are never chosen",
                   "特殊词元（填充、[CLS]、[SEP]）永远不会被选中")):
        _, labels = _call(candidate, ids)
        g.expect(bool((labels[~ordinary] == -100).all()), tr("tokens in special_ids must never be chosen or changed",
                                                             "special_ids 中的词元绝不能被选中或改动"))
    with g.case(tr("about 15% of the ordinary tokens are chosen (mask_prob)",
                   "约 15% 的普通词元被选中（mask_prob）")):
        _, labels = _call(candidate, ids)
        share = (labels[ordinary] != -100).float().mean().item()
        if 0.11 < share < 0.13:
            g.expect(False, tr(f"{share:.1%} chosen looks like 15% x 80% = 12%: the chosen 15% are the targets, "
                               "and the 80/10/10 rule only decides what their input shows",
                               f"选中了 {share:.1%}，看起来像 15% x 80% = 12%：被选中的 15% 都是目标，"
                               f"80/10/10 规则只决定它们的输入显示什么"))
        g.expect(0.135 < share < 0.165, tr(f"{share:.1%} of the ordinary tokens were chosen; expected about "
                                           "mask_prob = 15%",
                                           f"普通词元中有 {share:.1%} 被选中；应约为 mask_prob = 15%"))
        _, labels30 = _call(candidate, ids, mask_prob=0.3)
        share30 = (labels30[ordinary] != -100).float().mean().item()
        g.expect(0.28 < share30 < 0.32, tr(f"with mask_prob=0.3, {share30:.1%} were chosen: use the mask_prob argument",
                                           f"mask_prob=0.3 时选中了 {share30:.1%}：请使用参数 mask_prob"))
    with g.case(tr("each token is chosen on its own: the count per sequence varies",
                   "每个词元独立地被选中：每个序列选中的个数会变化")):
        _, labels = _call(candidate, ids)
        counts = (labels[50:] != -100).sum(1).double()  # rows of 48 ordinary tokens: Binomial(48, 0.15)
        g.expect(counts.var().item() > 2.0,
                 tr(f"every sequence of 48 ordinary tokens got about {counts.mean().item():.0f} chosen (variance "
                    f"{counts.var().item():.2f}, while independent choices give about 48 x 0.15 x 0.85 = 6.1): "
                    "choose each token independently with probability mask_prob, not a fixed count per sequence",
                    f"每个含 48 个普通词元的序列都选中了约 {counts.mean().item():.0f} "
                    f"个（方差 {counts.var().item():.2f}，而独立选择的方差约为 48 x 0.15 "
                    f"x 0.85 = 6.1）：请以概率 mask_prob 独立地选择每个词元，而不是每个序列选固定个数"))
    with g.case(tr("of the chosen: about 80% [MASK], 10% a random word, 10% unchanged",
                   "被选中的词元中：约 80% 变为 [MASK]，10% 变为随机词，10% 保持不变"), points=2):
        inputs, labels = _call(candidate, ids)
        chosen = labels != -100
        masked = (inputs[chosen] == _MASK).float().mean().item()
        kept = (inputs[chosen] == ids[chosen]).float().mean().item()
        if masked > 0.97:
            g.expect(False, tr("every chosen token became [MASK]: 10% must get a random word and 10% stay as they "
                               "are, or the model learns that an unmasked word is never a target",
                               "每个被选中的词元都变成了 [MASK]：10% 必须换成随机词、10% 保持原样，否则模型会学到未被掩蔽的词永远不是目标"))
        g.expect(0.75 < masked < 0.85, tr(f"{masked:.0%} of the chosen became [MASK]; expected about 80%",
                                          f"被选中的词元中有 {masked:.0%} 变成了 [MASK]；应约为 80%"))
        g.expect(0.06 < kept < 0.14, tr(f"{kept:.0%} of the chosen were left unchanged; expected about 10%",
                                        f"被选中的词元中有 {kept:.0%} 保持不变；应约为 10%"))
        g.expect(0.06 < 1 - masked - kept < 0.14,
                 tr(f"{1 - masked - kept:.0%} of the chosen became another word; expected about 10% random words",
                    f"被选中的词元中有 {1 - masked - kept:.0%} 变成了别的词；随机词应约为 10%"))
        # Every token 1, 90% chosen, [MASK] = 0, a vocabulary of 4: ids 2 and 3 can only be random words,
        # about 740 of each; the last id of the vocabulary must be drawn too.
        ones = torch.ones(64, 512, dtype=torch.long)
        words = candidate(ones, vocab_size=4, mask_id=0, special_ids=[], mask_prob=0.9,
                          generator=torch.Generator().manual_seed(7))[0]
        drawn = sorted(set(words.unique().tolist()) - {0, 1})
        g.expect(drawn == [2, 3], tr(f"with vocab_size=4 the random words were only {drawn}: draw them from the "
                                     "whole [0, vocab_size), its last id included",
                                     f"vocab_size=4 时随机词只有 {drawn}：应从整个 [0, vocab_size) 中抽取，"
                                     "包括最后一个 id"))
    with g.case(tr("the generator makes the draw reproducible",
                   "generator 让抽样可以复现")):
        a, b, c = _call(candidate, ids, 5), _call(candidate, ids, 5), _call(candidate, ids, 6)
        g.expect(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]),
                 tr("the same generator seed must give the same result: draw every random number from generator",
                    "相同的 generator 种子必须给出相同的结果：每个随机数都要从 generator 中抽取"))
        g.expect(not torch.equal(a[1], c[1]), tr("another seed gave the same choice: use the generator passed in",
                                                 "换一个种子却得到相同的选择：请使用传入的 generator"))
