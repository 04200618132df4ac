#pragma once
// A simple simulator of fluorescence microscopy training pairs (SR ground truth, wide-field
// camera frame), for demos, tests and smoke runs — not a physical model of any microscope.
//
// Ground truth (H,W), H = W = hr_size, float32 in [0, 1]:
//   - `filaments` worm-like chains (tangent angle a random walk with persistence length
//     20-80 HR px, length 0.5-1.5 H), drawn with a Gaussian line profile (sigma 0.8 HR px) and a
//     random brightness 0.4-1;
//   - `blobs` Gaussian spots, sigma 1-2.5 HR px, peak 0.2-1;
//   - the sum divided by its maximum.
// Input (h,w) = (H/f, W/f), float32 camera counts (whole numbers in [0, 65535]):
//   GT blurred by a Gaussian PSF (psf_sigma HR px, mirrored borders), averaged over f x f blocks,
//   mean = background + photons * that; a Poisson draw of the mean plus Gaussian read noise
//   (read_noise counts), rounded and clipped to the uint16 range.
//
// Deterministic: image `index` for `seed` is the same whatever the number of images simulated
// (its random numbers are a counter range of its own: Philox(seed), offsets index * 2^40 ...).
#include <cstdint>

#include "graph/tensor.h"

namespace abbe::data {

struct SimConfig {
  int64_t hr_size = 128;  // H = W of the ground truth; a multiple of scale
  int scale = 2;          // f
  int filaments = 8;
  int blobs = 20;
  double psf_sigma = 2.5;  // wide-field PSF, Gaussian sigma in HR pixels (0: none)
  double photons = 300;    // expected signal counts where the blurred, binned GT is 1
  double background = 20;  // expected background counts per camera pixel
  double read_noise = 2;   // Gaussian read noise, counts (standard deviation)
};

// Throws abbe::Error naming the first out-of-range field.
void validate(const SimConfig& cfg);

struct SimPair {
  Tensor lr;  // (h,w) or (n,h,w) float32 counts
  Tensor hr;  // (H,W) or (n,H,W) float32 in [0,1]
};

SimPair simulate_pair(const SimConfig& cfg, uint64_t seed, int64_t index);
// Images 0..n-1 of simulate_pair(cfg, seed, i), stacked.
SimPair simulate_stack(const SimConfig& cfg, uint64_t seed, int64_t n);

}  // namespace abbe::data
