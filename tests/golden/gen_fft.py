#!/usr/bin/python3
"""Golden data for abbe's 2-D real FFTs (kernels/cpu/fft.h), from torch.fft.

Run with Debian's interpreter:  /usr/bin/python3 tests/golden/gen_fft.py
Writes tests/golden/data/fft.safetensors, read by tests/test_fft_kernels.cpp. Inputs per
(H, W), float32-representable values shared by both dtypes:
  <H>x<W>.x              input (2, H, W)
  <H>x<W>.Z              a random NON-Hermitian spectrum (2, H, W/2+1, 2)
  <H>x<W>.xs             an input whose spectrum is negative at every structurally real bin
                         (DC; for even W column W/2; for even H row H/2)
outputs per dtype d in f32, f64 (torch computes in that dtype; complex tensors are stored as
(..., 2) real views; everything as F64):
  <d>.<H>x<W>.X          torch.fft.rfft2(x)                     (2, H, W/2+1, 2)
  <d>.<H>x<W>.z          torch.fft.irfft2(Z, s=(H, W))           (2, H, W)
  <d>.<H>x<W>.Xs         torch.fft.rfft2(xs)
  <d>.<H>x<W>.angle      torch.angle(torch.fft.rfft2(xs))       (2, H, W/2+1): +pi at those bins
                         wherever torch's imaginary part is exactly +0.0
__metadata__: format_version, generator, torch_version, cases (JSON list of [H, W]).
Deterministic: NumPy PCG64 streams seeded with the CRC-32 of each case name.
"""
import json
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import OUT_DIR, write_safetensors  # noqa: E402

FORMAT_VERSION = 1
CASES = [(8, 8), (7, 9), (6, 5), (64, 64), (17, 31), (1, 4), (4, 1)]
BATCH = 2
DTYPES = {"f32": torch.float32, "f64": torch.float64}

torch.set_num_threads(1)


def f32_exact(a):
    """float64 tensor holding float32-representable values."""
    return torch.from_numpy(np.array(np.array(a, dtype=np.float32), dtype=np.float64))


def main():
    tensors = []
    for h, w in CASES:
        rng = np.random.default_rng(zlib.crc32(f"fft.{h}x{w}".encode()))
        k = w // 2 + 1
        x = f32_exact(rng.uniform(-1, 1, size=(BATCH, h, w)))
        z = f32_exact(rng.uniform(-1, 1, size=(BATCH, h, k, 2)))
        # -1.5 + 0.5 (-1)^w ... makes DC, the Nyquist column, row H/2 and their corner negative.
        hh = np.arange(h)[:, None] % 2 * 2 - 1.0   # -1, +1, ... (-(-1)^h)
        ww = np.arange(w)[None, :] % 2 * 2 - 1.0
        pattern = -1.5 + 0.5 * ww + 0.25 * hh + 0.3 * hh * ww * -1.0
        xs = f32_exact(pattern[None] + 0.1 * rng.uniform(-1, 1, size=(BATCH, h, w)))
        tensors += [(f"{h}x{w}.x", x), (f"{h}x{w}.Z", z), (f"{h}x{w}.xs", xs)]
        for name, dt in DTYPES.items():
            tag = f"{name}.{h}x{w}"
            X = torch.fft.rfft2(x.to(dt))
            zz = torch.fft.irfft2(torch.view_as_complex(z.to(dt).contiguous()), s=(h, w))
            Xs = torch.fft.rfft2(xs.to(dt))
            tensors += [
                (f"{tag}.X", torch.view_as_real(X).to(torch.float64)),
                (f"{tag}.z", zz.to(torch.float64)),
                (f"{tag}.Xs", torch.view_as_real(Xs).to(torch.float64)),
                (f"{tag}.angle", torch.angle(Xs).to(torch.float64)),
            ]
    metadata = {
        "format_version": str(FORMAT_VERSION),
        "generator": "tests/golden/gen_fft.py",
        "torch_version": torch.__version__,
        "cases": json.dumps([list(c) for c in CASES]),
    }
    path = os.path.join(OUT_DIR, "fft.safetensors")
    write_safetensors(path, tensors, metadata)
    print(f"wrote {path}: {len(CASES)} shapes x {len(DTYPES)} dtypes, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
