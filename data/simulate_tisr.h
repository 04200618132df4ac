#pragma once
// Time-lapse microscopy with known motion, for DPA-TISR: training and test movies, and the true
// optical flow between their frames (SPyNet pretraining, flow checks). Like data/simulate.h, a
// simple generator, not a physical model of a microscope.
//
// Structures (in HR pixels, drawn sharp on the SR grid):
//   - `filaments`: microtubule / F-actin-like worm-like chains (persistence 20-80 px, length
//     0.5-1.5 H, line sigma 0.8 px, brightness 0.4-1);
//   - `vesicles`: clathrin-coated-pit-like rings (radius 1.5-3 px) and lysosome-like blobs
//     (sigma 1-2.5 px), half each, peak 0.2-1;
//   - `tubules`: tubular organelles, short stiff chains (persistence 60-200 px, length 0.1-0.3 H)
//     with a thick cross-section (sigma 1.5-2.2 px).
// Motion: every drawn point moves, frame t -> t+1, by the velocity field
//   v(p, t) = drift                                        (the same for the whole field)
//           + sum_k w_k exp(-|p - c_k|^2 / (2 r_k^2))      (3 local translations, r_k 0.15-0.3 H)
//           + deform (sin(a_y 2 pi y/H + phi_y + 0.1 t), sin(a_x 2 pi x/W + phi_x + 0.1 t))
//                                                          (slow deformation)
// with |drift| = `drift`, |w_k| in [0.5, 1] `local`, directions random (HR px per frame).
// So frame t+1 shows at p + v(p, t) what frame t shows at p: the flow of frame t is v(., t).
// Ground truth: the sharp drawing blurred by a SIM-like PSF (Gaussian, sr_psf_sigma), divided by
// the sequence's maximum (intensities stay comparable across frames). Input: the sharp drawing
// blurred by the wide-field PSF (wf_psf_sigma), averaged over f x f blocks, background + photons x
// that (photons for a block equal to the GT's maximum), Poisson shot noise, Gaussian read noise,
// rounded and clipped to uint16. Three SNR levels set the photons: 1 = 25, 2 = 75, 3 = 250.
//
// Deterministic: sequence `index` for `seed` draws from its own counter range, whatever else is
// simulated.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace abbe::data {

struct TisrSimConfig {
  int64_t hr_size = 192;  // H = W of the ground truth; a multiple of scale
  int scale = 3;          // f
  int64_t frames = 7;     // T
  int filaments = 6;
  int vesicles = 30;
  int tubules = 4;
  double drift = 0.6;          // HR px per frame
  double local = 0.8;          // peak speed of the local translations, HR px per frame
  double deform = 0.3;         // amplitude of the deformation field, HR px per frame
  double sr_psf_sigma = 1.0;   // SIM-like PSF of the ground truth, HR px
  double wf_psf_sigma = 2.5;   // wide-field PSF of the input, HR px
  int snr = 2;                 // 1, 2, 3 (low, mid, high)
  double background = 20;      // counts per camera pixel
  double read_noise = 2;       // counts (standard deviation)
};

// Photons for SNR level 1, 2, 3.
double tisr_photons(int snr);

// Throws abbe::Error naming the first out-of-range field.
void validate(const TisrSimConfig& cfg);

struct TisrSequence {
  Tensor lr;    // (T, h, w) float32 camera counts, h = H / f
  Tensor gt;    // (T, H, W) float32 in [0, 1]
  Tensor flow;  // (T - 1, 2, h, w) float32: v(., t) at the camera pixels' centres, in camera
                // pixels, channel 0 = x (columns), 1 = y (rows) — SPyNet's layout and convention
                // (flow_warp(frame t+1, flow t) ~ frame t)
};

TisrSequence simulate_sequence(const TisrSimConfig& cfg, uint64_t seed, int64_t index);

// The seq_*/ directories under dir, as `abbe simulate tisr` writes them, sorted by name. Throws
// abbe::Error (its message starting with `what`) when dir is not a directory or holds none.
std::vector<std::string> sequence_dirs(const std::string& dir, const std::string& what);

}  // namespace abbe::data
