#!/usr/bin/python3
"""Golden data for abbe's DPA-TISR (nets/dpa_tisr.h), from a PyTorch build of the network written
from ../shared/specs/dpa_tisr.md (BasicVSR++'s second-order propagation with the paper's phase
alignment), torchvision's deform_conv2d for the DCN.

Run with Debian's interpreter (torch 1.13 + torchvision):  /usr/bin/python3 tests/golden/gen_dpa_tisr.py
Writes tests/golden/data/net_dpa_tisr.safetensors, read by tests/test_dpa_tisr.cpp:
  <cfg>.x (N,T,1,H,W), <cfg>.y (eval mode: dropout off, float64), <cfg>.loss (L1 of the mu channel
  against a target in [0, 1) drawn from the hash below, name "<cfg>.target"), <cfg>.grad.<name>: a fingerprint (3 numbers) of that loss's gradient for every
  parameter; __metadata__ "<cfg>": the configuration as JSON.
The weights are not stored (SPyNet alone has 1.44M): both sides compute them from the parameter
names with an integer hash (parameter_values, hash_uniform), bit for bit.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import OUT_DIR, write_safetensors  # noqa: E402
from gen_sisr import PixelShufflePack, ResBlocksWithInputConv  # noqa: E402

torch.set_num_threads(1)
BRANCHES = ["backward_1", "forward_1", "backward_2", "forward_2"]


def flow_warp(x, flow, padding_mode="zeros"):
    """x (N,C,H,W), flow (N,H,W,2) in pixels: BasicVSR's flow_warp (align_corners=True)."""
    n, _, h, w = x.shape
    gy, gx = torch.meshgrid(torch.arange(0, h, dtype=x.dtype), torch.arange(0, w, dtype=x.dtype), indexing="ij")
    grid = torch.stack((gx, gy), 2) + flow
    gx = 2.0 * grid[:, :, :, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * grid[:, :, :, 1] / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((gx, gy), dim=3), mode="bilinear", padding_mode=padding_mode,
                         align_corners=True)


class ConvModule(nn.Module):
    def __init__(self, cin, cout, relu):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 7, 1, 3)
        self.relu = relu

    def forward(self, x):
        return F.relu(self.conv(x)) if self.relu else self.conv(x)


class SpyNetBasicModule(nn.Module):
    def __init__(self):
        super().__init__()
        ch = [8, 32, 64, 32, 16, 2]
        self.basic_module = nn.Sequential(*[ConvModule(ch[j], ch[j + 1], j < 4) for j in range(5)])

    def forward(self, x):
        return self.basic_module(x)


class SpyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList([SpyNetBasicModule() for _ in range(6)])
        self.register_buffer("mean", torch.Tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.Tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def compute_flow(self, ref, supp):
        n, _, h, w = ref.size()
        ref = [(ref - self.mean) / self.std]
        supp = [(supp - self.mean) / self.std]
        for _ in range(5):
            ref.append(F.avg_pool2d(ref[-1], 2, 2, count_include_pad=False))
            supp.append(F.avg_pool2d(supp[-1], 2, 2, count_include_pad=False))
        ref, supp = ref[::-1], supp[::-1]
        flow = ref[0].new_zeros(n, 2, h // 32, w // 32)
        for level in range(len(ref)):
            flow_up = flow if level == 0 else F.interpolate(flow, scale_factor=2, mode="bilinear",
                                                            align_corners=True) * 2.0
            warped = flow_warp(supp[level], flow_up.permute(0, 2, 3, 1), padding_mode="border")
            flow = flow_up + self.basic_module[level](torch.cat([ref[level], warped, flow_up], 1))
        return flow

    def forward(self, ref, supp):
        h, w = ref.shape[2:4]
        w_up = w if w % 32 == 0 else 32 * (w // 32 + 1)
        h_up = h if h % 32 == 0 else 32 * (h // 32 + 1)
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self.compute_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        flow[:, 0, :, :] *= float(w) / float(w_up)
        flow[:, 1, :, :] *= float(h) / float(h_up)
        return flow


def conv_stack(cin, c, cout):
    return nn.Sequential(nn.Conv2d(cin, c, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.1),
                         nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(c, cout, 3, 1, 1))


class PhaseAlignment(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv_angle = conv_stack(2 * c, c, c)

    def forward(self, x, current):
        X = torch.fft.rfft2(x)
        amp, px = X.abs(), X.angle()
        pc = torch.fft.rfft2(current).angle()
        phase = self.conv_angle(torch.cat([px, pc], 1)) + px
        return torch.fft.irfft2(torch.polar(amp, phase), s=x.shape[-2:])


class DeformAlignment(nn.Module):
    def __init__(self, c, groups, max_residue=10.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c, 2 * c, 3, 3).uniform_(-1 / (2 * c * 9) ** 0.5, 1 / (2 * c * 9) ** 0.5))
        self.bias = nn.Parameter(torch.zeros(c))
        self.conv_offset = conv_stack(3 * c + 4, c, 27 * groups)
        self.max_residue = max_residue

    def forward(self, x, extra_feat, flow_1, flow_2):
        out = self.conv_offset(torch.cat([extra_feat, flow_1, flow_2], dim=1))
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = self.max_residue * torch.tanh(torch.cat((o1, o2), dim=1))
        offset_1, offset_2 = torch.chunk(offset, 2, dim=1)
        offset_1 = offset_1 + flow_1.flip(1).repeat(1, offset_1.size(1) // 2, 1, 1)
        offset_2 = offset_2 + flow_2.flip(1).repeat(1, offset_2.size(1) // 2, 1, 1)
        offset = torch.cat([offset_1, offset_2], dim=1)
        return deform_conv2d(x, offset, self.weight, self.bias, (1, 1), (1, 1), (1, 1), torch.sigmoid(mask))


class DpaTisr(nn.Module):
    def __init__(self, scale, c, n_extract, n_prop, n_recon, bayesian, groups):
        super().__init__()
        self.scale, self.bayesian, self.c = scale, bayesian, c
        self.feat_extract = ResBlocksWithInputConv(1, c, n_extract)
        self.spynet = SpyNet()
        self.deform_align = nn.ModuleDict({b: DeformAlignment(c, groups) for b in BRANCHES})
        self.phase_align = nn.ModuleDict({b: PhaseAlignment(c) for b in BRANCHES})
        self.backbone = nn.ModuleDict({b: ResBlocksWithInputConv((i + 2) * c, c, n_prop) for i, b in enumerate(BRANCHES)})
        self.reconstruction = ResBlocksWithInputConv(5 * c, c, n_recon)
        self.upsamplemodule = PixelShufflePack(c, c, scale)
        self.conv_hr = nn.Conv2d(c, c, 3, 1, 1)
        self.conv_last = nn.Conv2d(c, 2 if bayesian else 1, 3, 1, 1)

    def propagate(self, feats, flows, name):
        n, t, _, h, w = flows.size()
        frame_idx = list(range(0, t + 1))
        flow_idx = list(range(-1, t))
        if "backward" in name:
            frame_idx = frame_idx[::-1]
            flow_idx = frame_idx
        feat_prop = flows.new_zeros(n, self.c, h, w)
        for i, idx in enumerate(frame_idx):
            feat_current = feats["spatial"][idx]
            if i > 0:
                flow_n1 = flows[:, flow_idx[i], :, :, :]
                cond_n1 = flow_warp(feat_prop, flow_n1.permute(0, 2, 3, 1))
                feat_n2 = torch.zeros_like(feat_prop)
                flow_n2 = torch.zeros_like(flow_n1)
                cond_n2 = torch.zeros_like(cond_n1)
                if i > 1:
                    feat_n2 = feats[name][-2]
                    flow_n2 = flows[:, flow_idx[i - 1], :, :, :]
                    flow_n2 = flow_n1 + flow_warp(flow_n2, flow_n1.permute(0, 2, 3, 1))
                    cond_n2 = flow_warp(feat_n2, flow_n2.permute(0, 2, 3, 1))
                cond = torch.cat([cond_n1, feat_current, cond_n2], dim=1)
                feat_prop = self.phase_align[name](feat_prop, feat_current)
                feat_n2 = self.phase_align[name](feat_n2, feat_current)
                feat_prop = self.deform_align[name](torch.cat([feat_prop, feat_n2], dim=1), cond, flow_n1, flow_n2)
            feat = [feat_current] + [feats[k][idx] for k in feats if k not in ["spatial", name]] + [feat_prop]
            feat_prop = feat_prop + self.backbone[name](torch.cat(feat, dim=1))
            feats[name].append(feat_prop)
        if "backward" in name:
            feats[name] = feats[name][::-1]
        return feats

    def forward(self, lqs):
        n, t, c, h, w = lqs.size()
        feats_ = self.feat_extract(lqs.view(-1, c, h, w)).view(n, t, -1, h, w)
        feats = {"spatial": [feats_[:, i] for i in range(t)]}
        lqs_1 = lqs[:, :-1].reshape(-1, c, h, w)
        lqs_2 = lqs[:, 1:].reshape(-1, c, h, w)
        flows_backward = self.spynet(lqs_1, lqs_2).view(n, t - 1, 2, h, w)
        flows_forward = self.spynet(lqs_2, lqs_1).view(n, t - 1, 2, h, w)
        for name in BRANCHES:
            feats[name] = []
            feats = self.propagate(feats, flows_backward if "backward" in name else flows_forward, name)
        outputs = []
        for i in range(t):
            hr = torch.cat([feats["spatial"][i]] + [feats[k][i] for k in BRANCHES], dim=1)
            hr = self.reconstruction(hr)
            hr = F.leaky_relu(self.upsamplemodule(hr), 0.1)
            hr = F.leaky_relu(self.conv_hr(hr), 0.1)
            out = self.conv_last(hr)
            base = F.interpolate(lqs[:, i], scale_factor=self.scale, mode="bilinear", align_corners=False)
            if self.bayesian:
                out = torch.cat([out[:, :1] + base, torch.sigmoid(out[:, 1:2])], 1)
            else:
                out = out + base
            outputs.append(out)
        return torch.stack(outputs, dim=1)


CONFIGS = [  # name, config, input (N, T, 1, H, W)
    ("x2_plain", dict(scale=2, channels=16, n_extract=1, n_prop=1, n_recon=1, bayesian=False, groups=16),
     (1, 4, 1, 32, 32)),
    ("x3_bayes", dict(scale=3, channels=8, n_extract=1, n_prop=2, n_recon=1, bayesian=True, groups=4),
     (1, 3, 1, 33, 40)),  # not multiples of 32: SPyNet resizes
    # H odd: for an even H that is not a power of two, torch's rfft2 leaves +-1 ulp of noise in the
    # imaginary part of bin (H/2, 0), so its phase there is +pi or -pi by chance (abbe's is +pi,
    # as the spec asks); the reference would not be a reference there.
]

M64 = (1 << 64) - 1


def fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def hash_uniform(seed, n):
    """n values in [-1, 1) with 24 random bits, from splitmix64 of (seed + i): integer arithmetic, so
    tests/test_dpa_tisr.cpp computes the same numbers bit for bit."""
    z = (np.arange(n, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return 2.0 * (z >> np.uint64(40)).astype(np.float64) / float(1 << 24) - 1.0


def parameter_values(name, shape):
    """Weights as PyTorch's default conv init draws them (U(+-1/sqrt(fan_in)), the bias with its
    weight's fan_in), but from hash_uniform seeded by the name, rounded to float32. The last
    conv_offset layer (zero-initialised in the reference) gets +-0.02 / +-0.1 so offsets and masks
    depend on the input."""
    n = int(np.prod(shape))
    if name.endswith("conv_offset.6.weight"):
        bound = 0.02
    elif name.endswith("conv_offset.6.bias"):
        bound = 0.1
    else:
        bound = 1.0 / np.sqrt(float(np.prod(shape[1:]))) if len(shape) > 1 else 0.1
    v = (bound * hash_uniform(fnv1a(name), n)).astype(np.float32).astype(np.float64)
    return torch.from_numpy(v.reshape(shape))


def fingerprint(g, name):
    """(sum, sum |g|, sum g * r) with r = hash_uniform(fnv1a(name) + 1): three numbers that change
    with any element of the gradient, stored instead of gradients of ~1.5M parameters."""
    v = g.detach().reshape(-1).numpy()
    r = hash_uniform(fnv1a(name) + 1, v.size)
    return torch.tensor([v.sum(), np.abs(v).sum(), (v * r).sum()], dtype=torch.float64)


def main():
    tensors, meta = [], {"format_version": "1", "torch_version": torch.__version__}
    for name, cfg, xshape in CONFIGS:
        net = DpaTisr(cfg["scale"], cfg["channels"], cfg["n_extract"], cfg["n_prop"], cfg["n_recon"],
                      cfg["bayesian"], cfg["groups"])
        net.eval()
        net = net.double()
        with torch.no_grad():
            for pname, p in net.named_parameters():
                p.copy_(parameter_values(pname, tuple(p.shape)))
        gen = np.random.default_rng(len(name))
        # A smooth moving pattern, so SPyNet sees structure.
        n, t, _, h, w = xshape
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        frames = [0.5 + 0.4 * np.sin(0.3 * (xx + 1.5 * k) + 0.2 * yy) * np.cos(0.25 * yy - 0.1 * k) for k in range(t)]
        x = np.stack(frames)[None, :, None] + 0.05 * gen.random(xshape)
        x = torch.tensor(x.astype(np.float32), dtype=torch.float64)
        y = net(x)
        f = cfg["scale"]
        tshape = (n, t, 1, h * f, w * f)  # in [0, 1), from the hash too (not stored)
        target = torch.from_numpy((0.5 * hash_uniform(fnv1a(name + ".target"), int(np.prod(tshape))) + 0.5)
                                  .astype(np.float32).astype(np.float64).reshape(tshape))
        loss = F.l1_loss(y[:, :, :1], target)
        params = list(net.named_parameters())
        grads = torch.autograd.grad(loss, [p for _, p in params])
        tensors += [(f"{name}.x", x), (f"{name}.y", y.detach()), (f"{name}.loss", loss.detach().reshape(1))]
        for (pname, _), g in zip(params, grads):
            tensors.append((f"{name}.grad.{pname}", fingerprint(g, pname)))
        meta[name] = json.dumps(cfg)
        print(f"{name}: {sum(p.numel() for _, p in params)} parameters, y {tuple(y.shape)}, loss {loss.item():.6f}")
    path = os.path.join(OUT_DIR, "net_dpa_tisr.safetensors")
    write_safetensors(path, tensors, meta)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
