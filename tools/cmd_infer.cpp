// abbe infer: a trained net over every frame of a TIFF stack -> a float32 SR stack.
#include <cstdio>

#include "data/normalize.h"
#include "data/safetensors.h"
#include "data/tiff.h"
#include "graph/views.h"
#include "tools/commands.h"
#include "tools/progress.h"
#include "train/checkpoint.h"
#include "train/sisr_trainer.h"

namespace abbe::cli {

std::unique_ptr<SISR> load_sisr(const std::string& path, const SisrFlags& flags,
                                const Parser& parser) {
  SisrConfig cfg;
  cfg.scale = flags.scale, cfg.channels = flags.channels;
  cfg.n_extract = flags.extract_blocks, cfg.n_recon = flags.recon_blocks;
  cfg.dropout = 0;  // inference: dropout is off in eval mode whatever the rate
  SisrConfig from_file = cfg;
  const io::SafetensorsFile file = io::read_safetensors(path);
  if (train::sisr_config_from_metadata(file.metadata, from_file)) {
    auto clash = [&](const char* flag, int64_t given, int64_t saved) {
      if (parser.given(flag) && given != saved)
        ABBE_FAIL("--", flag, " ", given, " disagrees with '", path, "', which was trained with ",
                  flag, " ", saved);
    };
    clash("scale", cfg.scale, from_file.scale);
    clash("channels", cfg.channels, from_file.channels);
    clash("extract-blocks", cfg.n_extract, from_file.n_extract);
    clash("recon-blocks", cfg.n_recon, from_file.n_recon);
    cfg = from_file;
  }
  auto net = std::make_unique<SISR>(cfg);
  train::load_weights(path, *net);
  net->eval();
  return net;
}

namespace {

// abbe infer --net dpa_tisr: the whole stack as one sequence (N = 1, T = pages).
int run_infer_dpa_tisr(const Args& args) {
  std::string net_name, weights, in, out, device = "auto";
  DpaTisrConfig cfg;
  cfg.dropout = 0;
  bool raw_mode = false;
  Parser p("infer", "--net dpa_tisr --weights W.safetensors [--raw] [config flags] IN.tif OUT.tif",
           "Run DPA-TISR over a TIFF stack (T pages of h x w, T >= 2) as one sequence and write every\n"
           "output frame and channel as float32 pages (T x C pages of fh x fw; C = 2 for --bayesian:\n"
           "mu then b). The config flags must match the weights (abbe model info lists what they\n"
           "hold). The values go in as they are: a plain forward, dropout off, to compare with other\n"
           "implementations. (Without --raw, abbe infer --net dpa_tisr runs the movie mode.)");
  p.add("net", &net_name, "network (dpa_tisr)");
  p.add("weights", &weights, "weights file (safetensors, abbe names)").meta("FILE").required();
  p.toggle("raw", &raw_mode, "required here: this is the raw mode");
  add_dpa_tisr_flags(p, &cfg);
  add_device_flag(p, &device);
  p.positional("IN.tif", &in, "input stack (T, h, w)");
  p.positional("OUT.tif", &out, "output float32 stack (T x C, fh, fw)");
  if (!parse_or_help(p, args)) return 0;
  const Device dev = resolve_device(device);
  check_writable(out, "output");

  const Tensor stack = io::read_tiff(in);
  io::check_finite(stack, "input '" + in + "'");
  const int64_t T = stack.size(0), h = stack.size(1), w = stack.size(2), f = cfg.scale;
  if (T < 2) ABBE_FAIL("input '", in, "' has ", T, " frame; DPA-TISR needs a sequence of at least 2");
  DpaTisr net(cfg);
  train::load_weights(weights, net);
  net.eval();
  net.to(dev);
  const Tensor x = stack.to(DType::f32).contiguous();
  const auto t0 = std::chrono::steady_clock::now();
  Tensor y;
  {
    autograd::NoGradGuard no_grad;
    y = net.forward(raw::reshape(x, {1, T, 1, h, w}).to(dev)).to(Device::cpu());
  }
  const int64_t C = y.size(2);
  io::write_tiff(out, raw::reshape(y.contiguous(), {T * C, f * h, f * w}), io::TiffFormat::float32);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s (%lld frames x %lld channel(s) of %lld x %lld float32) in %s\n", out.c_str(), (long long)T,
              (long long)C, (long long)(f * h), (long long)(f * w), format_duration(dt).c_str());
  return 0;
}

}  // namespace

int run_infer(const Args& args) {
  if (net_flag(args) == "dpa_tisr") {
    for (const std::string& a : args)
      if (a == "--raw") return run_infer_dpa_tisr(args);
    return run_infer_dpa_tisr_movie(args);
  }
  std::string net_name = "sisr", weights, in, out, log_path, device = "auto";
  SisrFlags f;
  bool raw_mode = false;
  Parser p("infer", "--weights W.safetensors [--raw] [flags] IN.tif OUT.tif",
           "Super-resolve every frame of a TIFF stack (pages, h, w) into a float32 stack\n"
           "(pages, fh, fw). Each frame is min-max normalised first, as in training; --raw feeds\n"
           "the values as they are (a plain float32 forward). The net's size is read from the\n"
           "checkpoint's metadata; the size flags are needed only for weights without it.");
  p.add("net", &net_name, "network (sisr)");
  p.add("weights", &weights, "checkpoint or weights file").meta("FILE").required();
  p.toggle("raw", &raw_mode, "no normalisation: feed the frames as they are");
  p.add("scale", &f.scale, "SR factor (weights without metadata)").range(1, 8);
  p.add("channels", &f.channels, "feature channels (weights without metadata)").range(1, 1024);
  p.add("extract-blocks", &f.extract_blocks, "feature-extraction blocks (weights without metadata)")
      .range(0, 100);
  p.add("recon-blocks", &f.recon_blocks, "reconstruction blocks (weights without metadata)")
      .range(0, 100);
  p.add("log", &log_path, "write JSON-lines events here").meta("FILE");
  add_device_flag(p, &device);
  p.positional("IN.tif", &in, "input stack (pages, h, w)");
  p.positional("OUT.tif", &out, "output float32 stack (pages, fh, fw)");
  if (!parse_or_help(p, args)) return 0;
  if (net_name != "sisr")
    throw UsageError("--net: unknown net '" + net_name + "' (available: sisr, dpa_tisr)");
  const Device dev = resolve_device(device);
  check_writable(out, "output");

  const Tensor stack = io::read_tiff(in);
  io::check_finite(stack, "input '" + in + "'");
  auto net = load_sisr(weights, f, p);
  net->to(dev);
  const int64_t n = stack.size(0), h = stack.size(1), w = stack.size(2);
  const int64_t s = net->config().scale;
  JsonLog log(log_path);
  log.write(io::Json::object({{"event", "start"},
                              {"command", "infer"},
                              {"input", in},
                              {"weights", weights},
                              {"frames", n},
                              {"raw", raw_mode}}));

  // The whole output is built in memory and written once at the end: a failure leaves no file.
  Tensor sr = Tensor::empty({n, s * h, s * w});
  Progress progress("infer", "frames", Progress::stderr_is_terminal());
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    raw::select(sr, 0, i).copy_(train::sisr_infer(*net, raw::select(stack, 0, i), !raw_mode));
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress.update(i + 1, n, double(i + 1) / std::max(dt, 1e-9), "");
    log.write(io::Json::object({{"event", "frame"}, {"frame", i}}));
  }
  progress.finish();
  io::write_tiff(out, sr, io::TiffFormat::float32);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log.write(io::Json::object({{"event", "done"}, {"output", out}, {"seconds", dt}}));
  std::printf("wrote %s (%lld x %lld x %lld float32) in %s\n", out.c_str(), (long long)n,
              (long long)(s * h), (long long)(s * w), format_duration(dt).c_str());
  return 0;
}

}  // namespace abbe::cli
