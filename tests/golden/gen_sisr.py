#!/usr/bin/python3
"""Golden data for abbe's SISR net (nets/sisr.h), from a PyTorch build of the same network.

Run with Debian's interpreter:  /usr/bin/python3 tests/golden/gen_sisr.py
Writes tests/golden/data/net_sisr.safetensors, read by tests/test_sisr_golden.cpp:
  <cfg>.param.<name>   every parameter, under the same dotted name abbe uses (float64 values
                       that are exact float32 numbers, so both dtypes load identical weights)
  <cfg>.x              input (1, 1, H, W)
  <cfg>.y              forward output in eval mode (dropout off), computed in float64
  <cfg>.loss           L1 loss of y against <cfg>.target (the plain mu channel for Bayesian)
  <cfg>.grad.<name>    gradient of that loss for every parameter
  __metadata__ "<cfg>": JSON with scale, channels, n_extract, n_recon, bayesian.
Weights are PyTorch's default conv init (not the 0.1-scaled ResBlock init), so every layer matters.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import OUT_DIR, write_safetensors  # noqa: E402

torch.set_num_threads(1)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        return x + self.conv2(self.dropout(F.relu(self.conv1(x))))


class ResBlocksWithInputConv(nn.Module):
    def __init__(self, cin, c, n):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(cin, c, 3, 1, 1), nn.LeakyReLU(0.1),
                                  nn.Sequential(*[ResBlock(c) for _ in range(n)]))

    def forward(self, x):
        return self.main(x)


class PixelShufflePack(nn.Module):
    def __init__(self, cin, cout, f):
        super().__init__()
        self.f = f
        self.upsample_conv = nn.Conv2d(cin, cout * f * f, 3, 1, 1)

    def forward(self, x):
        return F.pixel_shuffle(self.upsample_conv(x), self.f)


class SISR(nn.Module):
    def __init__(self, scale, c, n_extract, n_recon, bayesian):
        super().__init__()
        self.scale, self.bayesian = scale, bayesian
        self.feat_extract = ResBlocksWithInputConv(1, c, n_extract)
        self.reconstruction = ResBlocksWithInputConv(c, c, n_recon)
        self.upsamplemodule = PixelShufflePack(c, c, scale)
        self.conv_hr = nn.Conv2d(c, c, 3, 1, 1)
        self.conv_last = nn.Conv2d(c, 2 if bayesian else 1, 3, 1, 1)

    def forward(self, x):
        h = self.reconstruction(self.feat_extract(x))
        h = F.leaky_relu(self.upsamplemodule(h), 0.1)
        h = F.leaky_relu(self.conv_hr(h), 0.1)
        out = self.conv_last(h)
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        if not self.bayesian:
            return out + base
        return torch.cat([out[:, :1] + base, torch.sigmoid(out[:, 1:2])], 1)


CONFIGS = [
    ("x2_plain", dict(scale=2, channels=16, n_extract=2, n_recon=2, bayesian=False), (1, 1, 12, 10)),
    ("x3_bayes", dict(scale=3, channels=8, n_extract=1, n_recon=3, bayesian=True), (1, 1, 9, 11)),
]


def main():
    tensors, meta = [], {"format_version": "1", "torch_version": torch.__version__}
    for name, cfg, xshape in CONFIGS:
        torch.manual_seed(len(name) * 7919)
        net = SISR(cfg["scale"], cfg["channels"], cfg["n_extract"], cfg["n_recon"], cfg["bayesian"])
        net.eval()
        with torch.no_grad():  # round weights to float32 values, then run in float64
            for p in net.parameters():
                p.copy_(p.float())
        net = net.double()
        gen = np.random.default_rng(len(name))
        x = torch.tensor(gen.random(xshape, dtype=np.float32), dtype=torch.float64)
        y = net(x)
        f = cfg["scale"]
        target = torch.tensor(gen.random((1, 1, xshape[2] * f, xshape[3] * f), dtype=np.float32),
                              dtype=torch.float64)
        loss = F.l1_loss(y[:, :1], target)
        params = list(net.named_parameters())
        grads = torch.autograd.grad(loss, [p for _, p in params])
        for pname, p in params:
            tensors.append((f"{name}.param.{pname}", p))
        tensors += [(f"{name}.x", x), (f"{name}.y", y), (f"{name}.target", target),
                    (f"{name}.loss", loss.reshape(1))]
        for (pname, _), g in zip(params, grads):
            tensors.append((f"{name}.grad.{pname}", g))
        meta[name] = json.dumps(cfg)
        print(f"{name}: {sum(p.numel() for _, p in params)} parameters, y {tuple(y.shape)}, loss {loss.item():.6f}")
    path = os.path.join(OUT_DIR, "net_sisr.safetensors")
    write_safetensors(path, tensors, meta)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
