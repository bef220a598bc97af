"""Chapter 2 variants: parameter counts and Table 1."""

import math

from torch import nn

from . import correct, wrong

AP, RP = "complexity.attention_layer_params", "complexity.recurrent_layer_params"
CP, LC = "complexity.conv1d_layer_params", "complexity.layer_complexity"


def ap_formula(d_model, *, bias=True):
    return 4 * d_model * d_model + (4 * d_model if bias else 0)


def ap_torch(d_model, *, bias=True):
    return sum(p.numel() for p in nn.MultiheadAttention(d_model, 1, bias=bias).parameters())


def ap_no_bias(d_model, *, bias=True):
    return 4 * d_model * d_model


def ap_no_wo(d_model, *, bias=True):
    return 3 * d_model * d_model + (3 * d_model if bias else 0)


def ap_always_bias(d_model, *, bias=True):
    return 4 * d_model * d_model + 4 * d_model


_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def rp_formula(kind, d_model, *, bias=True):
    if kind not in _GATES:
        raise ValueError(f"kind={kind!r}; expected 'rnn', 'lstm' or 'gru'")
    return _GATES[kind] * (2 * d_model * d_model + (2 * d_model if bias else 0))


def rp_torch(kind, d_model, *, bias=True):
    layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    if kind not in layers:
        raise ValueError(f"kind={kind!r} is not one of {sorted(layers)}")
    return sum(p.numel() for p in layers[kind](d_model, d_model, bias=bias).parameters())


def rp_one_bias(kind, d_model, *, bias=True):
    if kind not in _GATES:
        raise ValueError(f"kind={kind!r}")
    return _GATES[kind] * (2 * d_model * d_model + (d_model if bias else 0))


def rp_gru_four(kind, d_model, *, bias=True):
    gates = {"rnn": 1, "lstm": 4, "gru": 4}
    if kind not in gates:
        raise ValueError(f"kind={kind!r}")
    return gates[kind] * (2 * d_model * d_model + (2 * d_model if bias else 0))


def rp_no_error(kind, d_model, *, bias=True):
    return _GATES.get(kind, 1) * (2 * d_model * d_model + (2 * d_model if bias else 0))


def cp_formula(d_model, kernel_size, *, bias=True):
    return d_model * d_model * kernel_size + (d_model if bias else 0)


def cp_torch(d_model, kernel_size, *, bias=True):
    return sum(p.numel() for p in nn.Conv1d(d_model, d_model, kernel_size, bias=bias).parameters())


def cp_no_kernel(d_model, kernel_size, *, bias=True):
    return d_model * d_model + (d_model if bias else 0)


def cp_depthwise(d_model, kernel_size, *, bias=True):
    return d_model * kernel_size + (d_model if bias else 0)


def cp_bias_per_tap(d_model, kernel_size, *, bias=True):
    return d_model * d_model * kernel_size + (d_model * kernel_size if bias else 0)


def _ceil_log(n, k):
    layers, reach = 0, 1
    while reach < n:
        reach *= k
        layers += 1
    return layers


def lc_integers(kind, n, d, k=3, r=None):
    if kind == "self_attention":
        return n * n * d, 1, 1
    if kind == "recurrent":
        return n * d * d, n, n
    if kind == "convolutional":
        return k * n * d * d, 1, _ceil_log(n, k)
    if kind == "restricted_self_attention":
        if r is None:
            raise ValueError("r=None; restricted self-attention needs r")
        return r * n * d, 1, -(-n // r)
    raise ValueError(f"kind={kind!r}")


def lc_table(kind, n, d, k=3, r=None):
    rows = {
        "self_attention": lambda: (n**2 * d, 1, 1),
        "recurrent": lambda: (n * d**2, n, n),
        "convolutional": lambda: (k * n * d**2, 1, _ceil_log(n, k)),
        "restricted_self_attention": lambda: (r * n * d, 1, math.ceil(n / r)),
    }
    if kind not in rows or (kind == "restricted_self_attention" and r is None):
        raise ValueError(f"kind={kind!r}, r={r!r}")
    return rows[kind]()


def lc_float_log(kind, n, d, k=3, r=None):
    if kind == "convolutional":
        return k * n * d * d, 1, math.ceil(math.log(n, k))
    return lc_integers(kind, n, d, k, r)


def lc_conv_path_n_over_k(kind, n, d, k=3, r=None):
    if kind == "convolutional":
        return k * n * d * d, 1, -(-n // k)
    return lc_integers(kind, n, d, k, r)


def lc_recurrent_sequential_one(kind, n, d, k=3, r=None):
    if kind == "recurrent":
        return n * d * d, 1, n
    return lc_integers(kind, n, d, k, r)


def lc_restricted_floor(kind, n, d, k=3, r=None):
    if kind == "restricted_self_attention":
        return r * n * d, 1, n // r
    return lc_integers(kind, n, d, k, r)


VARIANTS = [
    correct(AP, "formula", ap_formula),
    correct(AP, "counts nn.MultiheadAttention", ap_torch),
    wrong(AP, "biases forgotten", ap_no_bias, "biases are missing"),
    wrong(AP, "W^O forgotten", ap_no_wo, "W\\^O is missing"),
    wrong(AP, "bias flag ignored", ap_always_bias, "biases are still counted"),
    correct(RP, "formula with gates", rp_formula),
    correct(RP, "counts the torch layer", rp_torch),
    wrong(RP, "one bias vector per gate", rp_one_bias, "one bias per gate"),
    wrong(RP, "GRU with four gates", rp_gru_four, "four gates"),
    wrong(RP, "no ValueError for an unknown kind", rp_no_error, "ValueError"),
    correct(CP, "formula", cp_formula),
    correct(CP, "counts nn.Conv1d", cp_torch),
    wrong(CP, "kernel size forgotten", cp_no_kernel, "kernel"),
    wrong(CP, "depthwise count", cp_depthwise, "depthwise"),
    wrong(CP, "a bias per tap", cp_bias_per_tap, "bias per kernel position"),
    correct(LC, "integer loops", lc_integers),
    correct(LC, "a table of lambdas", lc_table),
    wrong(LC, "floating-point log", lc_float_log, "floating point"),
    wrong(LC, "conv path n / k", lc_conv_path_n_over_k, "contiguous kernels"),
    wrong(LC, "recurrent sequential 1", lc_recurrent_sequential_one, "parallel"),
    wrong(LC, "restricted path floor", lc_restricted_floor, "rounded down"),
]
