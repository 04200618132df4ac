#!/usr/bin/python3
"""Golden data for confidence and calibration, recomputed with NumPy from the spec's formulas
(../shared/specs/dpa_tisr.md, "Bayesian variant"), independently of abbe:

  - mc: M = 6 Monte Carlo samples mus, bs (6, 40, 50); mean, sigma_model (ddof 0), sigma_data
    (mean b) and the confidence (1/M) sum_m [F_m(mean + e) - F_m(mean - e)],
    F_m(x) = 0.5 sign(x - mu_m)(1 - exp(-|x - mu_m| / b_m)), for e = 0.04 and intensity-aware
    e = max(0.2 |mean|, 0.04);
  - ece: two "images" of confidence, mean and truth accumulated together: 50 bins on [0, 1]
    (c = 1 in the last), pixels with mean > 0.05, accurate when |mean - truth| < e, bins with more
    than 100 pixels kept; ECE = sum_b n_b / N |conf_b - acc_b| (N over the kept bins),
    rECE = sum_b (conf_b - acc_b); the per-bin counts, confidences and accuracies.

Writes data/calibration.safetensors (F64). The math is NumPy only (torch is just the container
gen.py's writer takes); deterministic."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402  (gen.py's writer takes torch tensors)
from gen import write_safetensors  # noqa: E402


def mc_stats(mus, bs, e, intensity_aware):
    mean = mus.mean(0)
    sigma_model = np.sqrt(((mus - mean) ** 2).mean(0))
    sigma_data = bs.mean(0)
    ee = np.maximum(0.2 * np.abs(mean), e) if intensity_aware else np.full_like(mean, e)

    def F(x, mu, b):
        d = x - mu
        return 0.5 * np.sign(d) * (1 - np.exp(-np.abs(d) / b))

    conf = np.mean([F(mean + ee, mus[m], bs[m]) - F(mean - ee, mus[m], bs[m]) for m in range(len(mus))], 0)
    return np.stack([mean, sigma_model, sigma_data, conf])


def ece(confs, means, truths, e, intensity_aware):
    count = np.zeros(50)
    conf_sum = np.zeros(50)
    acc_sum = np.zeros(50)
    for c, m, y in zip(confs, means, truths):
        sel = m > 0.05
        c, m, y = np.clip(c[sel], 0, 1), m[sel], y[sel]
        ee = np.maximum(0.2 * np.abs(m), e) if intensity_aware else e
        b = np.minimum((c * 50).astype(np.int64), 49)
        acc = (np.abs(m - y) < ee).astype(np.float64)
        np.add.at(count, b, 1)
        np.add.at(conf_sum, b, c)
        np.add.at(acc_sum, b, acc)
    kept = count > 100
    conf_b = np.where(count > 0, conf_sum / np.maximum(count, 1), 0)
    acc_b = np.where(count > 0, acc_sum / np.maximum(count, 1), 0)
    n = count[kept].sum()
    return ((count[kept] / n) * np.abs(conf_b[kept] - acc_b[kept])).sum(), (conf_b[kept] - acc_b[kept]).sum(), \
        count, conf_b, acc_b


def main():
    rng = np.random.default_rng(2026)
    out = []
    mus = rng.uniform(0, 1, (6, 40, 50))
    bs = rng.uniform(0.01, 0.2, (6, 40, 50))
    out += [("mc.mus", mus), ("mc.bs", bs),
            ("mc.stats", mc_stats(mus, bs, 0.04, False)), ("mc.stats_intensity", mc_stats(mus, bs, 0.04, True))]
    # Two images whose confidences spread over all bins, mean sometimes below 0.05.
    shape = (2, 120, 150)
    truth = rng.uniform(0, 1, shape)
    mean = truth + rng.normal(0, 0.05, shape)
    conf = np.clip(np.exp(-np.abs(mean - truth) / 0.05) + rng.normal(0, 0.1, shape), 0, 1)
    conf[0, 0, :10] = 1.0  # exactly 1: the last bin
    out += [("ece.conf", conf), ("ece.mean", mean), ("ece.truth", truth)]
    for name, ia in (("plain", False), ("intensity", True)):
        e_, r_, count, conf_b, acc_b = ece(conf, mean, truth, 0.04, ia)
        out += [(f"ece.{name}.ece", np.array(e_)), (f"ece.{name}.rece", np.array(r_)),
                (f"ece.{name}.count", count), (f"ece.{name}.conf", conf_b), (f"ece.{name}.acc", acc_b)]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "calibration.safetensors")
    write_safetensors(path, [(n, torch.from_numpy(np.asarray(a, dtype=np.float64))) for n, a in out],
                      {"generator": "gen_calibration.py", "e": "0.04"})
    print("wrote", path, [n for n, _ in out])


if __name__ == "__main__":
    main()
