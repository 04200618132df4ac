#!/usr/bin/python3
"""Golden data for abbe's grid_sample kernels (kernels/cpu/grid_sample.h), from PyTorch 1.13's
F.grid_sample(x, grid, mode='bilinear', padding_mode=zeros|border, align_corners=True|False).

Run with Debian's interpreter:  /usr/bin/python3 tests/golden/gen_grid_sample.py
Writes tests/golden/data/grid_sample.safetensors, read by tests/test_grid_sample_kernels.cpp:
  <case>.x, <case>.grid, <case>.gy   inputs: x (N,C,H,W), grid (N,P,Q,2), upstream gradient gy
                                     (N,C,P,Q); float32 numbers stored as float64, so both dtypes
                                     see the very same inputs
  <case>.y, <case>.dx, <case>.dgrid  torch in float64: the output and the gradients of
                                     sum(y * gy) with respect to x and grid
  <case>.f32.y, .f32.dx, .f32.dgrid  the same computed by torch in float32 (stored as float64)
  __metadata__ "<case>": JSON {"what", "N", "C", "H", "W", "P", "Q", "padding", "align_corners"},
  plus format_version, generator and torch_version.
Cases are named grid_sample.<i>; each draws from a NumPy PCG64 stream seeded with the CRC-32 of
its name. Grids of the "integer" cases put samples exactly on pixel centres, inside and outside
the input, with sizes that make the unnormalisation exact in float32 (asserted), so the float32
data does not depend on rounding there (the gradient is discontinuous at such points).
"""
import json
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import OUT_DIR, write_safetensors  # noqa: E402

FORMAT_VERSION = 1


def f32(a):
    """float32-representable float64 tensor."""
    return torch.from_numpy(np.array(np.array(a, dtype=np.float32), dtype=np.float64, order="C"))


def unnormalize(g, size, align_corners, dtype):
    g = np.asarray(g, dtype=dtype)
    one, half = dtype(1), dtype(0.5)
    if align_corners:
        return (g + one) * dtype((size - 1) / 2)
    return (g + one) * dtype(size / 2) - half


def random_grid(rng, N, P, Q, lo=-1.25, hi=1.25):
    """Uniform in [lo, hi): about a fifth of the samples fall outside [-1, 1]."""
    return f32(rng.uniform(lo, hi, size=(N, P, Q, 2)))


def integer_grid(rng, N, H, W, P, Q, align_corners):
    """Samples on pixel centres k in [-2, size+1] (and a few random ones), exact in float32."""
    g = np.empty((N, P, Q, 2))
    for axis, size in ((0, W), (1, H)):
        k = rng.integers(-2, size + 2, size=(N, P, Q)).astype(np.float64)
        g[..., axis] = 2 * k / (size - 1) - 1 if align_corners else (2 * k + 1) / size - 1
        for dtype in (np.float32, np.float64):
            s = unnormalize(np.float32(g[..., axis]), size, align_corners, dtype)
            assert np.array_equal(s, k), f"size {size} does not give exact pixel centres"
    mixed = rng.uniform(size=(N, P, Q)) < 0.2  # some off-centre samples among them
    g[mixed] = rng.uniform(-1.1, 1.1, size=(int(mixed.sum()), 2))
    return f32(g)


def flow_grid(rng, N, H, W, P, Q, align_corners, amplitude):
    """A flow_warp grid: the pixel grid plus a smooth random flow of about `amplitude` pixels,
    normalised as flow_warp does (2 v / (size - 1) - 1)."""
    assert (P, Q) == (H, W) and align_corners
    coarse = torch.from_numpy(rng.normal(0, amplitude, size=(N, 2, 3, 3)))
    flow = F.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=True)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                            torch.arange(W, dtype=torch.float64), indexing="ij")
    gx = 2 * (xs + flow[:, 0]) / max(W - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(H - 1, 1) - 1
    return f32(torch.stack([gx, gy], -1).numpy())


def run(x, grid, gy, padding, align_corners):
    x = x.clone().requires_grad_(True)
    grid = grid.clone().requires_grad_(True)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=align_corners)
    dx, dgrid = torch.autograd.grad((y * gy).sum(), [x, grid])
    return y.detach(), dx, dgrid


def main():
    torch.set_num_threads(1)
    tensors, meta = [], {"format_version": str(FORMAT_VERSION),
                         "generator": "tests/golden/gen_grid_sample.py",
                         "torch_version": torch.__version__}
    cases = []
    for padding in ("zeros", "border"):
        for ac in (True, False):
            cases.append(("random grid, P,Q < H,W", 2, 3, 5, 7, 4, 6, padding, ac, "random"))
            cases.append(("random grid, P,Q > H,W", 1, 2, 4, 5, 7, 9, padding, ac, "random"))
            H, W = (5, 9) if ac else (4, 8)
            cases.append(("samples on pixel centres", 2, 3, H, W, 6, 5, padding, ac, "integer"))
    cases.append(("flow_warp: pixel grid + 1.5 px flow", 1, 3, 8, 10, 8, 10, "zeros", True, "flow"))
    cases.append(("SPyNet warp: pixel grid + 3 px flow", 2, 2, 7, 6, 7, 6, "border", True, "flow"))
    cases.append(("H = 1, zeros", 1, 2, 1, 6, 3, 4, "zeros", True, "random"))
    cases.append(("H = 1, border", 1, 2, 1, 6, 3, 4, "border", False, "random"))
    cases.append(("W = 1, border", 1, 2, 5, 1, 3, 4, "border", True, "random"))

    for i, (what, N, C, H, W, P, Q, padding, ac, kind) in enumerate(cases):
        name = f"grid_sample.{i}"
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        x = f32(rng.uniform(-1, 1, size=(N, C, H, W)))
        if kind == "random":
            grid = random_grid(rng, N, P, Q)
        elif kind == "integer":
            grid = integer_grid(rng, N, H, W, P, Q, ac)
        else:
            grid = flow_grid(rng, N, H, W, P, Q, ac, 1.5 if padding == "zeros" else 3.0)
        gy = f32(rng.uniform(-1, 1, size=(N, C, P, Q)))
        y, dx, dgrid = run(x, grid, gy, padding, ac)
        y32, dx32, dgrid32 = run(x.float(), grid.float(), gy.float(), padding, ac)
        for key, t in (("x", x), ("grid", grid), ("gy", gy), ("y", y), ("dx", dx),
                       ("dgrid", dgrid), ("f32.y", y32), ("f32.dx", dx32),
                       ("f32.dgrid", dgrid32)):
            tensors.append((f"{name}.{key}", t.double()))
        meta[name] = json.dumps({"what": what, "N": N, "C": C, "H": H, "W": W, "P": P, "Q": Q,
                                 "padding": padding, "align_corners": ac}, sort_keys=True)
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "grid_sample.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"wrote {os.path.relpath(path)}: {len(cases)} cases, {len(tensors)} tensors, "
          f"{os.path.getsize(path)} bytes (torch {torch.__version__})")


if __name__ == "__main__":
    sys.exit(main())
