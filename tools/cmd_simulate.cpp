// abbe simulate: a directory of simulated training pairs (data/simulate.h):
//   DIR/lr.tif    (n,h,w) uint16 camera counts
//   DIR/gt.tif    (n,H,W) float32 ground truth in [0,1]
//   DIR/meta.json the configuration and seed, enough to make the same files again.
#include <cstdio>
#include <fstream>

#include "data/atomic_file.h"
#include "data/json.h"
#include "data/simulate.h"
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

int run_simulate(const Args& args) {
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
