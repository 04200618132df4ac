// abbe simulate: a directory of simulated training pairs (data/simulate.h):
//   DIR/lr.tif    (n,h,w) uint16 camera counts
//   DIR/gt.tif    (n,H,W) float32 ground truth in [0,1]
//   DIR/meta.json the configuration and seed, enough to make the same files again.
// abbe simulate tisr: time-lapse sequences with their true flow (data/simulate_tisr.h):
//   DIR/seq_NNNN/lr.tif    (T,h,w) uint16 camera counts
//   DIR/seq_NNNN/gt.tif    (T,H,W) float32 ground truth in [0,1]
//   DIR/seq_NNNN/flow.tif  (2(T-1),h,w) float32: for t = 0..T-2, pages 2t (x) and 2t+1 (y) of
//                          the flow from frame t to t+1, camera pixels
//   DIR/seq_NNNN/meta.json its SNR level, photons and index; DIR/meta.json the whole set.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "data/atomic_file.h"
#include "data/json.h"
#include "data/simulate.h"
#include "data/simulate_tisr.h"
#include "data/tiff.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace abbe::cli {

// Writes a JSON document atomically (shared with demo).
void write_json_file(const std::string& path, const io::Json& j) {
  io::write_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    f << j.dump(2) << "\n";
    f.close();
    if (!f) ABBE_FAIL("cannot write '", path, "'");
  });
}

io::Json sim_config_json(const data::SimConfig& c, uint64_t seed, int64_t count) {
  return io::Json::object({{"generator", "abbe simulate"},
                           {"seed", seed},
                           {"count", count},
                           {"hr_size", c.hr_size},
                           {"lr_size", c.hr_size / c.scale},
                           {"scale", c.scale},
                           {"filaments", c.filaments},
                           {"blobs", c.blobs},
                           {"psf_sigma", c.psf_sigma},
                           {"photons", c.photons},
                           {"background", c.background},
                           {"read_noise", c.read_noise}});
}

void add_sim_flags(Parser& p, data::SimConfig& c) {
  p.add("size", &c.hr_size, "ground-truth image side, HR pixels (a multiple of --scale)")
      .range(4, 8192);
  p.add("scale", &c.scale, "super-resolution factor f (camera pixel = f x f HR pixels)")
      .range(1, 8);
  p.add("filaments", &c.filaments, "filaments per image").range(0, 10000);
  p.add("blobs", &c.blobs, "Gaussian spots per image").range(0, 100000);
  p.add("psf-sigma", &c.psf_sigma, "wide-field PSF Gaussian sigma, HR pixels").range(0, 64);
  p.add("photons", &c.photons, "signal counts where the blurred, binned GT is 1")
      .range(1e-6, 60000);
  p.add("background", &c.background, "background counts per camera pixel").range(0, 60000);
  p.add("read-noise", &c.read_noise, "camera read noise, counts (std)").range(0, 10000);
}

namespace {

int run_simulate_tisr(const Args& args) {
  std::string out, log_path, snr = "mixed";
  int64_t count = 8;
  uint64_t seed = 0;
  data::TisrSimConfig c;
  Parser p("simulate tisr", "--out DIR [--count N] [--frames T] [--size HR] [--scale F] [flags]",
           "Simulate time-lapse movies with known motion for DPA-TISR: filaments, vesicles and\n"
           "tubules moving with global drift, local translations and a slow deformation; the\n"
           "ground truth through a SIM-like PSF, the camera frames through a wide-field PSF with\n"
           "binning and shot + read noise, and the true flow between frames. Writes\n"
           "DIR/seq_NNNN/{lr,gt,flow}.tif and meta.json, and DIR/meta.json. Sequence i depends\n"
           "only on (seed, i).");
  p.add("out", &out, "output directory (created if missing)").meta("DIR").required();
  p.add("count", &count, "number of sequences").range(1, 100000);
  p.add("frames", &c.frames, "frames per sequence").range(1, 100000);
  p.add("size", &c.hr_size, "ground-truth frame side, HR pixels (a multiple of --scale)").range(8, 4096);
  p.add("scale", &c.scale, "super-resolution factor f").range(1, 8);
  p.add("filaments", &c.filaments, "filaments per sequence").range(0, 10000);
  p.add("vesicles", &c.vesicles, "vesicles per sequence").range(0, 100000);
  p.add("tubules", &c.tubules, "tubular organelles per sequence").range(0, 10000);
  p.add("drift", &c.drift, "global drift, HR px per frame").range(0, 16);
  p.add("local", &c.local, "peak speed of local translations, HR px per frame").range(0, 16);
  p.add("deform", &c.deform, "deformation amplitude, HR px per frame").range(0, 16);
  p.add("snr", &snr, "1, 2, 3 (low, mid, high: 25, 75, 250 photons) or mixed (sequence i gets i % 3 + 1)")
      .meta("LEVEL");
  p.add("seed", &seed, "random seed");
  p.add("log", &log_path, "write JSON-lines events here").meta("FILE");
  if (!parse_or_help(p, args)) return 0;
  if (snr != "mixed" && snr != "1" && snr != "2" && snr != "3")
    throw UsageError("--snr: expected 1, 2, 3 or mixed, got '" + snr + "'");
  auto level = [&](int64_t i) { return snr == "mixed" ? int(i % 3) + 1 : std::stoi(snr); };
  c.snr = level(0);
  data::validate(c);

  auto config_json = [&](const data::TisrSimConfig& k) {
    return io::Json::object({{"generator", "abbe simulate tisr"}, {"seed", seed},
                             {"hr_size", k.hr_size}, {"lr_size", k.hr_size / k.scale},
                             {"scale", k.scale}, {"frames", k.frames},
                             {"filaments", k.filaments}, {"vesicles", k.vesicles},
                             {"tubules", k.tubules}, {"drift", k.drift}, {"local", k.local},
                             {"deform", k.deform}, {"sr_psf_sigma", k.sr_psf_sigma},
                             {"wf_psf_sigma", k.wf_psf_sigma}, {"background", k.background},
                             {"read_noise", k.read_noise}});
  };
  JsonLog log(log_path);
  io::Json set = config_json(c);
  set["count"] = count;
  set["snr"] = snr;
  set["flow"] = "flow.tif pages 2t, 2t+1: x, y displacement from frame t to t+1, camera px";
  log.write(io::Json::object({{"event", "start"}, {"command", "simulate tisr"}, {"out", out},
                              {"config", set}}));

  OutputGuard guard;
  guard.make_dir(out);
  Progress progress("simulate tisr", "seq", Progress::stderr_is_terminal());
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < count; ++i) {
    data::TisrSimConfig k = c;
    k.snr = level(i);
    const data::TisrSequence seq = data::simulate_sequence(k, seed, i);
    char name[32];
    std::snprintf(name, sizeof name, "/seq_%04lld", static_cast<long long>(i));
    const std::string dir = out + name;
    guard.make_dir(dir);
    guard.add(dir + "/lr.tif");
    io::write_tiff(dir + "/lr.tif", seq.lr, io::TiffFormat::uint16);
    guard.add(dir + "/gt.tif");
    io::write_tiff(dir + "/gt.tif", seq.gt, io::TiffFormat::float32);
    if (k.frames > 1) {
      const int64_t h = k.hr_size / k.scale;
      guard.add(dir + "/flow.tif");
      io::write_tiff(dir + "/flow.tif", reshape(seq.flow, {2 * (k.frames - 1), h, h}),
                     io::TiffFormat::float32);
    }
    io::Json meta = config_json(k);
    meta["index"] = i;
    meta["snr"] = k.snr;
    meta["photons"] = data::tisr_photons(k.snr);
    guard.add(dir + "/meta.json");
    write_json_file(dir + "/meta.json", meta);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress.update(i + 1, count, double(i + 1) / std::max(dt, 1e-9), "");
  }
  guard.add(out + "/meta.json");
  write_json_file(out + "/meta.json", set);
  guard.commit();
  progress.finish();
  log.write(io::Json::object({{"event", "done"}, {"sequences", count}}));
  const int64_t H = c.hr_size, h = H / c.scale;
  std::printf("wrote %lld sequences of %lld frames to %s (LR %lld x %lld uint16, GT %lld x %lld "
              "float32, flow)\n",
              (long long)count, (long long)c.frames, out.c_str(), (long long)h, (long long)h,
              (long long)H, (long long)H);
  return 0;
}

}  // namespace

int run_simulate(const Args& args) {
  if (!args.empty() && args[0] == "tisr") return run_simulate_tisr(Args(args.begin() + 1, args.end()));
  std::string out, log_path;
  int64_t count = 16;
  uint64_t seed = 0;
  data::SimConfig cfg;
  Parser p("simulate", "--out DIR [--count N] [--size HR] [--scale F] [--seed S] [flags]",
           "Simulate fluorescence microscopy pairs: random filaments and spots rendered sharp on\n"
           "the HR grid (the ground truth), and the camera frame of the same field (PSF blur,\n"
           "f x f binning, background, Poisson shot noise, read noise). Writes DIR/lr.tif\n"
           "(uint16 counts), DIR/gt.tif (float32, max 1) and DIR/meta.json. Image i depends\n"
           "only on (seed, i).");
  p.add("out", &out, "output directory (created if missing)").meta("DIR").required();
  p.add("count", &count, "number of image pairs").range(1, 100000);
  p.add("seed", &seed, "random seed");
  add_sim_flags(p, cfg);
  p.add("log", &log_path, "write JSON-lines events here").meta("FILE");
  if (!parse_or_help(p, args)) return 0;
  data::validate(cfg);
  JsonLog log(log_path);
  io::Json start = io::Json::object({{"event", "start"}, {"command", "simulate"}, {"out", out}});
  start["config"] = sim_config_json(cfg, seed, count);
  log.write(start);

  OutputGuard guard;
  guard.make_dir(out);
  const std::string lr_path = out + "/lr.tif", gt_path = out + "/gt.tif",
                    meta_path = out + "/meta.json";
  const data::SimPair pair = data::simulate_stack(cfg, seed, count);
  guard.add(lr_path);
  io::write_tiff(lr_path, pair.lr, io::TiffFormat::uint16);
  guard.add(gt_path);
  io::write_tiff(gt_path, pair.hr, io::TiffFormat::float32);
  guard.add(meta_path);
  write_json_file(meta_path, sim_config_json(cfg, seed, count));
  guard.commit();
  log.write(io::Json::object(
      {{"event", "done"}, {"files", io::Json::array({lr_path, gt_path, meta_path})}}));

  const int64_t H = cfg.hr_size, h = H / cfg.scale;
  std::printf("wrote %s (%lld x %lld x %lld uint16), %s (%lld x %lld x %lld float32), %s\n",
              lr_path.c_str(), (long long)count, (long long)h, (long long)h, gt_path.c_str(),
              (long long)count, (long long)H, (long long)H, meta_path.c_str());
  return 0;
}

}  // namespace abbe::cli
