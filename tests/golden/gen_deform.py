#!/usr/bin/python3
"""Golden data for abbe's deformable convolution kernels (kernels/cpu/deform_conv.h), computed
with torchvision.ops.deform_conv2d (torchvision 0.14's CPU kernel).

Run with Debian's interpreter:  /usr/bin/python3 tests/golden/gen_deform.py
Writes tests/golden/data/deform_conv.safetensors, read by tests/test_deform_conv_kernels.cpp:
  deform_conv.<i>.<input>       inputs: x, offset, weight, and mask, bias when the case has them
  deform_conv.<i>.y             forward output
  deform_conv.<i>.gy            upstream gradient
  deform_conv.<i>.grad.<input>  gradient of sum(y * gy) for each input
  __metadata__ "deform_conv.<i>": JSON with stride, padding, dilation ([h, w] pairs), groups,
  offset_groups, mask and bias (booleans); plus format_version, generator, torch_version and
  torchvision_version.
Number policy as gen.py's: every input and gy is a float32 value stored as float64; y and the
gradients are computed in float64. Offsets mix uniform values (many samples fall outside the
small images) with integers and half-integers (samples exactly on pixels and cell edges, and on
the -1 and H, W borders, where torchvision's coordinate gradient has its own conventions).
Deterministic: each case draws from a NumPy PCG64 stream seeded with the CRC-32 of its name.
"""
import json
import os
import sys
import zlib

import numpy as np
import torch
import torchvision
from torchvision.ops import deform_conv2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import OUT_DIR, write_safetensors  # noqa: E402

FORMAT_VERSION = 1  # tests/test_deform_conv_kernels.cpp kGoldenFormatVersion
FILE = "deform_conv.safetensors"


def pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


class Rng:
    """float32-representable numbers as float64 tensors, seeded by the case name."""

    def __init__(self, case_name):
        self.rng = np.random.default_rng(zlib.crc32(case_name.encode()))

    def as_tensor(self, a):
        return torch.from_numpy(np.array(np.array(a, dtype=np.float32), dtype=np.float64, order="C"))

    def u(self, shape, lo=-1.0, hi=1.0):
        return self.as_tensor(self.rng.uniform(lo, hi, size=shape))

    def offsets(self, shape, spread, exact_share):
        """Uniform in [-spread, spread), a share of them replaced by multiples of 0.5."""
        a = self.rng.uniform(-spread, spread, size=shape)
        exact = self.rng.uniform(size=shape) < exact_share
        a = np.where(exact, np.round(a * 2) / 2, a)
        return self.as_tensor(a)


# (x shape, K, kernel, stride, padding, dilation, groups, offset_groups, mask, bias,
#  offset spread, share of exact offsets)
CASES = [
    ((2, 4, 5, 6), 3, 3, 1, 1, 1, 1, 2, True, True, 2.5, 0.1),     # two offset groups
    ((1, 4, 7, 6), 4, 3, 2, 0, 1, 2, 1, False, True, 1.5, 0.1),    # stride 2, groups 2, no mask
    ((1, 6, 6, 5), 2, (3, 2), (1, 2), (1, 0), (2, 1), 1, 3, True, False, 2.0, 0.2),  # anisotropic
    ((1, 2, 4, 5), 2, 3, 1, 1, 1, 1, 1, True, True, 2.0, 1.0),     # only integer/half offsets
    ((1, 32, 5, 5), 8, 3, 1, 1, 1, 1, 4, True, True, 3.0, 0.1),    # DPA-like: 8 channels a group
]


def main():
    torch.set_num_threads(1)
    tensors = []
    meta = {
        "format_version": str(FORMAT_VERSION),
        "generator": "tests/golden/gen_deform.py",
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }
    for i, (xs, K, k, s, p, d, gr, og, use_mask, use_bias, spread, exact) in enumerate(CASES):
        name = f"deform_conv.{i}"
        rng = Rng(name)
        kh, kw = pair(k)
        (sh, sw), (ph, pw), (dh, dw) = pair(s), pair(p), pair(d)
        N, C, H, W = xs
        P = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        Q = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        bound = 1 / np.sqrt(C // gr * kh * kw)
        inputs = {"x": rng.u(xs), "offset": rng.offsets((N, 2 * og * kh * kw, P, Q), spread, exact),
                  "weight": rng.u((K, C // gr, kh, kw), -bound, bound)}
        if use_mask:
            inputs["mask"] = rng.u((N, og * kh * kw, P, Q), 0.0, 1.0)
        if use_bias:
            inputs["bias"] = rng.u((K,), -bound, bound)
        leaves = {key: v.clone().requires_grad_(True) for key, v in inputs.items()}
        y = deform_conv2d(leaves["x"], leaves["offset"], leaves["weight"], leaves.get("bias"),
                          stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), mask=leaves.get("mask"))
        gy = rng.u(tuple(y.shape))
        grads = torch.autograd.grad((y * gy).sum(), list(leaves.values()))
        for key, v in inputs.items():
            tensors.append((f"{name}.{key}", v))
        tensors.append((f"{name}.y", y.detach()))
        tensors.append((f"{name}.gy", gy))
        for key, g in zip(leaves, grads):
            tensors.append((f"{name}.grad.{key}", g))
        params = {"stride": [sh, sw], "padding": [ph, pw], "dilation": [dh, dw], "groups": gr,
                  "offset_groups": og, "mask": use_mask, "bias": use_bias}
        meta[name] = json.dumps(params, sort_keys=True, separators=(", ", ": "))
    path = os.path.join(OUT_DIR, FILE)
    write_safetensors(path, tensors, meta)
    print(f"wrote {os.path.relpath(path)}: {len(CASES)} cases, {len(tensors)} tensors, "
          f"{os.path.getsize(path)} bytes (torch {torch.__version__}, "
          f"torchvision {torchvision.__version__})")


if __name__ == "__main__":
    sys.exit(main())
