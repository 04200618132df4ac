#!/usr/bin/python3
"""PyTorch CPU baselines for bench/bench_*.cpp, same shapes, same machine.

Run with Debian's interpreter (it has python3-torch): /usr/bin/python3 bench/torch_bench.py [filter]
Each case is a Case(name, flops, setup, bytes=0) where setup() returns a zero-argument callable to
time; add a case for a new op by appending to CASES (names match the abbe_bench case names).
Memory-bound cases give bytes (read + written, as the C++ bench) and print GB/s.
"""
import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

THREADS = 2


@dataclass
class Case:
    name: str
    flops: float  # per call, from the same formula as the C++ bench
    setup: Callable[[], Callable[[], object]]
    bytes: float = 0.0  # per call, read + written, for memory-bound ops (GB/s column)
    slow: bool = False  # seconds per call: one warm-up, then the better of two calls


def conv_flops(n, c, k, r, s, p, q, groups=1):
    return 2.0 * n * k * (c // groups) * r * s * p * q


def conv_out(size, kernel, stride, pad, dil):
    return (size + 2 * pad - dil * (kernel - 1) - 1) // stride + 1


def conv2d_cases(n, c, h, w, k, r, stride=1, pad=1, dil=1, groups=1):
    tag = f"{n}x{c}x{h}x{w}_k{k}_{r}x{r}"
    p, q = conv_out(h, r, stride, pad, dil), conv_out(w, r, stride, pad, dil)
    flops = conv_flops(n, c, k, r, r, p, q, groups)
    args = dict(stride=[stride] * 2, padding=[pad] * 2, dilation=[dil] * 2, groups=groups)

    def inputs():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, c, h, w, generator=g)
        wt = torch.randn(k, c // groups, r, r, generator=g)
        b = torch.randn(k, generator=g)
        dy = torch.randn(n, k, p, q, generator=g)
        return x, wt, b, dy

    def fwd():
        x, wt, b, _ = inputs()
        return lambda: torch.nn.functional.conv2d(x, wt, b, **args)

    def backward(mask):
        def make():
            x, wt, b, dy = inputs()
            # The same aten entry point autograd calls for conv2d's backward (mkldnn on CPU).
            return lambda: torch.ops.aten.convolution_backward(
                dy, x, wt, [k], args["stride"], args["padding"], args["dilation"], False, [0, 0],
                groups, mask)
        return make

    return [
        Case(f"conv2d_forward/{tag}", flops, fwd),
        Case(f"conv2d_backward_data/{tag}", flops, backward([True, False, False])),
        Case(f"conv2d_backward_weight/{tag}", flops, backward([False, True, True])),
    ]


def conv_transpose2d_case(n, c, h, w, k, r, stride, pad, out_pad, dil=1, groups=1):
    tag = f"{n}x{c}x{h}x{w}_k{k}_{r}x{r}_s{stride}_p{pad}_op{out_pad}"
    p = (h - 1) * stride - 2 * pad + dil * (r - 1) + out_pad + 1
    q = (w - 1) * stride - 2 * pad + dil * (r - 1) + out_pad + 1
    flops = conv_flops(n, k, c, r, r, h, w, groups)  # the equivalent conv maps (K,P,Q) -> (C,H,W)

    def make():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, c, h, w, generator=g)
        wt = torch.randn(c, k // groups, r, r, generator=g)
        b = torch.randn(k, generator=g)
        return lambda: torch.nn.functional.conv_transpose2d(
            x, wt, b, stride=stride, padding=pad, output_padding=out_pad, groups=groups,
            dilation=dil)

    assert p > 0 and q > 0
    return Case(f"conv_transpose2d_forward/{tag}", flops, make)


def matmul_case(m, n, k):
    def make():
        g = torch.Generator().manual_seed(0)
        a = torch.randn(m, k, generator=g)
        b = torch.randn(k, n, generator=g)
        return lambda: torch.matmul(a, b)

    return Case(f"gemm/{m}x{n}x{k}", 2.0 * m * n * k, make)


CASES = [
    *conv2d_cases(1, 64, 128, 128, 64, 3),
    *conv2d_cases(1, 64, 64, 64, 64, 3),
    # SOFI decoder: ConvTranspose2d(24->24, k=3, stride=2, padding=4), output 2H-7.
    conv_transpose2d_case(1, 24, 128, 128, 24, 3, stride=2, pad=4, out_pad=0),
    matmul_case(1024, 1024, 1024),
    matmul_case(64, 16384, 576),
]


def deform_conv2d_cases(n, c, h, w, k, r, offset_groups):
    """bench/bench_deform_conv.cpp: torchvision.ops.deform_conv2d (CPU), pad 1, mask and bias,
    offsets uniform in [-3, 3); flops as there (the gemm work: 1x forward, 2x backward). Plus the
    plain conv2d of the same shape."""
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)
    from torchvision.ops import deform_conv2d

    tag = f"{n}x{c}x{h}x{w}_k{k}_{r}x{r}"
    flops = conv_flops(n, c, k, r, r, h, w)
    taps = offset_groups * r * r

    def inputs():
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, c, h, w, generator=g) * 2 - 1
        off = (torch.rand(n, 2 * taps, h, w, generator=g) * 2 - 1) * 3
        mask = torch.rand(n, taps, h, w, generator=g)
        wt = (torch.rand(k, c, r, r, generator=g) * 2 - 1) / (c * r * r) ** 0.5
        b = torch.rand(k, generator=g) * 2 - 1
        dy = torch.rand(n, k, h, w, generator=g) * 2 - 1
        return x, off, mask, wt, b, dy

    def fwd():
        x, off, mask, wt, b, _ = inputs()
        return lambda: deform_conv2d(x, off, wt, b, padding=(r // 2, r // 2), mask=mask)

    def bwd():
        x, off, mask, wt, b, dy = inputs()
        # The op autograd calls for deform_conv2d's backward: all five gradients.
        return lambda: torch.ops.torchvision._deform_conv2d_backward(
            dy, x, wt, off, mask, b, 1, 1, r // 2, r // 2, 1, 1, 1, offset_groups, True)

    def plain():
        x, _, _, wt, b, _ = inputs()
        return lambda: F.conv2d(x, wt, b, padding=r // 2)

    return [
        Case(f"deform_conv2d_forward/{tag}_og{offset_groups}", flops, fwd),
        Case(f"deform_conv2d_backward/{tag}_og{offset_groups}", 2 * flops, bwd),
        Case(f"conv2d_forward/{tag}", flops, plain),
    ]


# DPA-TISR's alignment DCN (bench/bench_deform_conv.cpp).
CASES += deform_conv2d_cases(1, 128, 128, 128, 64, 3, 16) + deform_conv2d_cases(1, 128, 64, 64, 64, 3, 16)


# Resampling and pooling (bench/bench_resample.cpp), float32; bytes = read + written, as there.
def resample_cases():
    def randn(*shape, seed=0):
        return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))

    def pixel_shuffle(c, h, r):
        """(1, c*r*r, h, h) -> (1, c, h*r, h*r); the backward is pixel_unshuffle."""
        tag = f"1x{c * r * r}x{h}x{h}_r{r}"
        nbytes = 2 * 4.0 * c * r * r * h * h

        def forward():
            x = randn(1, c * r * r, h, h)
            return lambda: F.pixel_shuffle(x, r)

        def backward():
            dy = randn(1, c, h * r, h * r)
            return lambda: F.pixel_unshuffle(dy, r)

        return [Case(f"pixel_shuffle_forward/{tag}", 0, forward, nbytes),
                Case(f"pixel_shuffle_backward/{tag}", 0, backward, nbytes)]

    def bilinear(c, h, f, backward=False):
        """(1, c, h, h) -> (1, c, h*f, h*f), scale_factor=f, align_corners=False."""
        kind = "backward" if backward else "forward"

        def make():
            if backward:
                dy = randn(1, c, h * f, h * f)
                return lambda: torch.ops.aten.upsample_bilinear2d_backward(
                    dy, [h * f, h * f], [1, c, h, h], False, float(f), float(f))
            x = randn(1, c, h, h)
            return lambda: F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)

        return Case(f"upsample_bilinear_{kind}/1x{c}x{h}x{h}_x{f}", 0, make,
                    4.0 * c * h * h * (1 + f * f))

    def avg_pool(c, h):
        def make():
            x = randn(1, c, h, h)
            return lambda: F.avg_pool2d(x, 2)

        return Case(f"avg_pool2d_forward/1x{c}x{h}x{h}_k2", 0, make, 4.0 * c * h * h * 5 / 4)

    def max_pool(c, h, backward=False):
        """2x2 windows, stride 2, with int64 indices as abbe computes them."""
        ny = c * h * h // 4
        kind = "backward" if backward else "forward"

        def make():
            x = randn(1, c, h, h)
            if not backward:
                return lambda: F.max_pool2d(x, 2, return_indices=True)
            _, idx = F.max_pool2d(x, 2, return_indices=True)
            dy = randn(1, c, h // 2, h // 2, seed=1)
            return lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                dy, x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)

        return Case(f"max_pool2d_{kind}/1x{c}x{h}x{h}_k2", 0, make,
                    4.0 * (c * h * h + ny) + 8.0 * ny)

    return [
        *pixel_shuffle(64, 128, 2),
        *pixel_shuffle(64, 64, 3),
        *(bilinear(c, 128, f) for c in (64, 1) for f in (2, 3)),
        bilinear(64, 128, 2, backward=True),
        avg_pool(3, 128),
        max_pool(64, 128),
        max_pool(64, 128, backward=True),
    ]


CASES += resample_cases()


# Bilinear grid sampling (bench/bench_grid_sample.cpp), float32: x (1, 64, 128, 128) warped by the
# pixel grid plus a smooth random flow (8x8 field, up to 3 px, upsampled), align_corners=True.
def grid_sample_cases(n=1, c=64, h=128, w=128):
    def inputs():
        g = torch.Generator().manual_seed(0)
        x = torch.rand(n, c, h, w, generator=g) * 2 - 1
        dy = torch.rand(n, c, h, w, generator=g) * 2 - 1
        coarse = (torch.rand(n, 2, 8, 8, generator=g) * 2 - 1) * 3
        flow = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        grid = torch.stack([2 * (xs + flow[:, 0]) / (w - 1) - 1,
                            2 * (ys + flow[:, 1]) / (h - 1) - 1], -1)
        return x, grid, dy

    nx, ng = n * c * h * w, n * h * w * 2
    cases = []
    for padding, code in (("zeros", 0), ("border", 1)):
        def forward(padding=padding):
            x, grid, _ = inputs()
            return lambda: F.grid_sample(x, grid, mode="bilinear", padding_mode=padding,
                                         align_corners=True)

        def backward(code=code):
            x, grid, dy = inputs()
            # The aten entry point autograd calls, computing both dx and dgrid.
            return lambda: torch.ops.aten.grid_sampler_2d_backward(dy, x, grid, 0, code, True,
                                                                   [True, True])

        tag = f"{n}x{c}x{h}x{w}_{padding}"
        cases.append(Case(f"grid_sample_forward/{tag}", 0, forward, 4.0 * (2 * nx + ng)))
        cases.append(Case(f"grid_sample_backward/{tag}", 0, backward, 4.0 * (3 * nx + 2 * ng)))
    return cases


CASES += grid_sample_cases()


# 2-D real FFTs (bench/bench_fft.cpp), float32; GFLOP/s = 2.5 N log2 N per image of N = H*W.
def fft_cases():
    def case(b, h, w, inverse):
        n = h * w

        def make():
            x = torch.randn(b, h, w, generator=torch.Generator().manual_seed(0))
            if not inverse:
                return lambda: torch.fft.rfft2(x)
            X = torch.fft.rfft2(x)
            return lambda: torch.fft.irfft2(X, s=(h, w))

        kind = "irfft2" if inverse else "rfft2"
        return Case(f"{kind}/{b}x{h}x{w}", 2.5 * n * math.log2(n) * b, make)

    return [case(b, h, w, inv) for b, h, w in ((64, 64, 64), (64, 128, 128), (64, 100, 100))
            for inv in (False, True)]


CASES += fft_cases()


def dpa_tisr_cases():
    """The PyTorch build of DPA-TISR (tests/golden/gen_dpa_tisr.py), the spec's shipped config:
    Bayesian, 3/3/5, 64 channels, x3, 1x7x1xHxW; forward without autograd, and a training step
    (L1 of mu, backward, Adam). Needs python3-torchvision (deform_conv2d)."""
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))

    def net():
        from gen_dpa_tisr import DpaTisr
        m = DpaTisr(3, 64, 3, 3, 5, True, 16)
        return m

    def forward(side):
        def setup():
            m = net().eval()
            x = torch.rand(1, 7, 1, side, side)

            def run():
                with torch.no_grad():
                    return m(x)
            return run
        return setup

    def train_step(side):
        def setup():
            m = net().train()
            opt = torch.optim.Adam(m.parameters())
            x = torch.rand(1, 7, 1, side, side)
            target = torch.rand(1, 7, 1, 3 * side, 3 * side)

            def run():
                with torch.enable_grad():
                    opt.zero_grad()
                    loss = F.l1_loss(m(x)[:, :, :1], target)
                    loss.backward()
                    opt.step()
            return run
        return setup

    return [Case("dpa_tisr_forward/64", 0, forward(64), slow=True),
            Case("dpa_tisr_forward/128", 0, forward(128), slow=True),
            Case("dpa_tisr_train_step/64", 0, train_step(64), slow=True)]


CASES += dpa_tisr_cases()


def time_call(fn, min_time=0.5, min_reps=5):
    """Median seconds per call over repeats of batches lasting >= min_time / 5."""
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    batch = max(1, int(min_time / 5 / once))
    samples = []
    while len(samples) < min_reps or sum(samples) * batch < min_time:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t0) / batch)
    samples.sort()
    return samples[len(samples) // 2]


def time_call_once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    torch.set_num_threads(THREADS)
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"{'case':<58} {'ms':>9} {'GFLOP/s':>9} {'GB/s':>9}")
    with torch.no_grad():
        for case in CASES:
            if pattern not in case.name:
                continue
            fn = case.setup()
            if case.slow:
                fn()
                s = min(time_call_once(fn), time_call_once(fn))
            else:
                s = time_call(fn)
            rate = lambda v: f"{v / s * 1e-9:9.1f}" if v else f"{'-':>9}"
            print(f"{case.name:<58} {s * 1e3:9.3f} {rate(case.flops)} {rate(case.bytes)}")


if __name__ == "__main__":
    main()
