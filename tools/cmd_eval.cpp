// abbe eval: scores an SR movie against its ground truth (spec "Training and data" metrics and
// "Bayesian variant" calibration):
//   - per frame PSNR (peak 1) and SSIM of the least-squares fit a SR + b to the normalised GT,
//     GT normalised as a 3x3 Gaussian blur (sigma 0.4, reflect-101 borders: d c b | a b c d)
//     of GT / max GT;
//   - temporal consistency: the Pearson correlation matrix of the SR frames over time next to
//     the GT's, their mean absolute difference off the diagonal, and the SR matrix as a PNG;
//   - with DIR/confidence.tif: ECE and signed rECE (metrics/calibration.h) of the SR mean
//     against the normalised GT, and the reliability diagram.
// Writes OUT/metrics.json, OUT/temporal_correlation.png and OUT/reliability.png.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "autograd/ops.h"
#include "data/normalize.h"
#include "data/png.h"
#include "data/tiff.h"
#include "graph/views.h"
#include "metrics/calibration.h"
#include "metrics/image_metrics.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace abbe::cli {
namespace {

// GT / max GT, blurred as the training targets: (H, W) float32.
Tensor normalised_truth(const Tensor& gt) { return io::blur_target(io::divide_by_max(gt)); }

// Pearson correlation matrix (T, T) of the frames of a (T, H, W) stack.
std::vector<double> correlation_matrix(const Tensor& stack) {
  const int64_t T = stack.size(0), n = stack.numel() / T;
  const auto v = stack.to(DType::f64).to_vector<double>();
  std::vector<double> centred(v.size()), norm(T);
  for (int64_t t = 0; t < T; ++t) {
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += v[t * n + i];
    mean /= double(n);
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += (centred[t * n + i] = v[t * n + i] - mean) * centred[t * n + i];
    norm[t] = std::sqrt(ss);
  }
  std::vector<double> r(T * T);
  for (int64_t a = 0; a < T; ++a)
    for (int64_t b = 0; b < T; ++b) {
      double dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += centred[a * n + i] * centred[b * n + i];
      r[a * T + b] = norm[a] > 0 && norm[b] > 0 ? dot / (norm[a] * norm[b]) : (a == b ? 1 : 0);
    }
  return r;
}

}  // namespace

int run_eval(const Args& args) {
  std::string sr_dir, gt_path, out;
  double e = 0.04;
  bool intensity_aware = false;
  Parser p("eval", "--sr DIR --gt GT.tif --out REPORT_DIR [flags]",
           "Score the output of abbe infer --net dpa_tisr (DIR/sr.tif, and DIR/confidence.tif when\n"
           "present) against the ground-truth stack: PSNR and SSIM after normalisation and a linear\n"
           "fit, the temporal Pearson correlation matrix, ECE and rECE with a reliability diagram.\n"
           "Writes REPORT_DIR/metrics.json and PNGs.");
  p.add("sr", &sr_dir, "directory written by abbe infer").meta("DIR").required();
  p.add("gt", &gt_path, "ground truth (T, fh, fw)").meta("FILE").required();
  p.add("out", &out, "report directory (created if missing)").meta("DIR").required();
  p.add("e", &e, "confidence interval half-width e").range(1e-9, 1e9);
  p.toggle("intensity-aware", &intensity_aware, "e per pixel = max(0.2 |mean|, e)");
  if (!parse_or_help(p, args)) return 0;

  const Tensor sr = io::read_tiff(sr_dir + "/sr.tif"), gt = io::read_tiff(gt_path);
  io::check_finite(sr, sr_dir + "/sr.tif");
  io::check_finite(gt, gt_path);
  if (sr.shape() != gt.shape())
    ABBE_FAIL("eval: ", sr_dir, "/sr.tif is ", sr.shape(), " but the ground truth '", gt_path, "' is ",
              gt.shape(), "; they must match frame for frame");
  const bool has_conf = std::filesystem::exists(sr_dir + "/confidence.tif");
  Tensor conf;
  if (has_conf) {
    conf = io::read_tiff(sr_dir + "/confidence.tif");
    if (conf.shape() != sr.shape())
      ABBE_FAIL("eval: ", sr_dir, "/confidence.tif is ", conf.shape(), ", sr.tif ", sr.shape());
  }
  const int64_t T = sr.size(0);
  OutputGuard guard;
  guard.make_dir(out);
  metrics::CalibrationAccumulator calib(e, intensity_aware);
  io::Json frames = io::Json::array();
  double psnr_sum = 0, ssim_sum = 0;
  std::vector<Tensor> truths;
  for (int64_t t = 0; t < T; ++t) {
    const Tensor y = normalised_truth(raw::select(gt, 0, t));
    const Tensor x = raw::select(sr, 0, t).to(DType::f64).contiguous();
    const Tensor fit = metrics::linear_fit(x, y);
    const double ps = metrics::psnr(fit, y), ss = metrics::ssim(fit, y);
    psnr_sum += ps, ssim_sum += ss;
    frames.push_back(io::Json::object({{"frame", t}, {"psnr", ps}, {"ssim", ss}}));
    if (has_conf) calib.add(raw::select(conf, 0, t), x, y);
    truths.push_back(y);
  }
  io::Json report = io::Json::object({{"sr", sr_dir}, {"gt", gt_path}, {"frames", T},
                                      {"psnr", psnr_sum / double(T)}, {"ssim", ssim_sum / double(T)}});
  report["per_frame"] = frames;
  // Temporal consistency.
  const std::vector<double> r_sr = correlation_matrix(sr), r_gt = correlation_matrix(stack(truths, 0));
  double diff = 0;
  for (int64_t a = 0; a < T; ++a)
    for (int64_t b = 0; b < T; ++b)
      if (a != b) diff += std::abs(r_sr[a * T + b] - r_gt[a * T + b]);
  report["temporal_correlation_error"] = T > 1 ? diff / double(T * (T - 1)) : 0.0;
  std::vector<double> img(r_sr.size());
  for (size_t i = 0; i < img.size(); ++i) img[i] = std::clamp(r_sr[i], 0.0, 1.0);
  const std::string corr_png = out + "/temporal_correlation.png";
  guard.add(corr_png);
  io::write_png_gray(corr_png, Tensor::from_vector(img, {T, T}));
  if (has_conf) {
    const metrics::CalibrationResult cr = calib.result();
    report["ece"] = cr.ece;
    report["rece"] = cr.rece;
    report["calibrated_pixels"] = cr.pixels;
    const std::string rel = out + "/reliability.png";
    guard.add(rel);
    metrics::write_reliability_png(rel, cr);
  }
  const std::string json = out + "/metrics.json";
  guard.add(json);
  write_json_file(json, report);
  guard.commit();
  std::printf("%lld frames: PSNR %.2f dB, SSIM %.4f, temporal correlation error %.4f", (long long)T,
              psnr_sum / double(T), ssim_sum / double(T), report.at("temporal_correlation_error").as_double());
  if (has_conf) std::printf(", ECE %.4f, rECE %.4f", report.at("ece").as_double(), report.at("rece").as_double());
  std::printf("\nwrote %s\n", json.c_str());
  return 0;
}

}  // namespace abbe::cli
