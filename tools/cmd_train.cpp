// abbe train: train a net on a pair of TIFF stacks (train/sisr_trainer.h), with a progress bar,
// periodic atomic checkpoints, the best-validation weights beside them, and --log JSON lines.
#include <cstdio>

#include "data/normalize.h"
#include "data/tiff.h"
#include "tools/commands.h"
#include "tools/progress.h"
#include "train/sisr_trainer.h"

namespace abbe::cli {

// "model.safetensors" -> "model.best.safetensors" (the suffix is added when there is none).
std::string best_path_for(const std::string& out) {
  const std::string ext = ".safetensors";
  if (out.size() > ext.size() && out.compare(out.size() - ext.size(), ext.size(), ext) == 0)
    return out.substr(0, out.size() - ext.size()) + ".best" + ext;
  return out + ".best.safetensors";
}

namespace {

// The scale that makes GT = scale x LR, checked against --scale when given (scale > 0).
int pair_scale(const Tensor& lr, const Tensor& gt, const std::string& lr_path,
               const std::string& gt_path, int scale) {
  if (lr.size(0) != gt.size(0))
    ABBE_FAIL("LR stack '", lr_path, "' has ", lr.size(0), " images but GT stack '", gt_path,
              "' has ", gt.size(0), "; the stacks must pair image by image");
  const int64_t h = lr.size(1), w = lr.size(2), H = gt.size(1), W = gt.size(2);
  if (scale > 0) {
    if (H != scale * h || W != scale * w)
      ABBE_FAIL("GT stack '", gt_path, "' images are ", H, " x ", W, " but LR stack '", lr_path,
                "' images are ", h, " x ", w, ": at scale ", scale, " the GT must be ", scale * h,
                " x ", scale * w);
    return scale;
  }
  if (H % h != 0 || W % w != 0 || H / h != W / w || H / h < 1 || H / h > 8)
    ABBE_FAIL("GT stack '", gt_path, "' images (", H, " x ", W, ") are not the same integer ",
              "multiple (1..8) of the LR stack '", lr_path, "' images (", h, " x ", w,
              ") in both directions");
  return static_cast<int>(H / h);
}

io::Json options_json(const train::SisrTrainOptions& o) {
  return io::Json::object({{"net", "sisr"},
                           {"scale", o.net.scale},
                           {"channels", o.net.channels},
                           {"extract_blocks", o.net.n_extract},
                           {"recon_blocks", o.net.n_recon},
                           {"dropout", o.net.dropout},
                           {"steps", o.steps},
                           {"batch", o.batch},
                           {"patch", o.patch},
                           {"lr", o.lr},
                           {"beta1", o.beta1},
                           {"beta2", o.beta2},
                           {"schedule", o.schedule},
                           {"seed", o.seed}});
}

}  // namespace

std::string net_flag(const Args& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--net" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--net=", 0) == 0) return args[i].substr(6);
  }
  return "";
}

int run_train(const Args& args) {
  if (net_flag(args) == "spynet") return run_train_spynet(args);
  if (net_flag(args) == "dpa_tisr") return run_train_dpa_tisr(args);
  std::string net = "sisr", lr_path, gt_path, out, best, resume, log_path, device = "auto";
  train::SisrTrainOptions o;
  int scale = 0;
  double minutes = 0;
  Parser p("train", "--lr-stack LR.tif --gt-stack GT.tif --out CKPT.safetensors [flags]",
           "Train a super-resolution net on paired TIFF stacks: LR (n,h,w) camera frames and GT\n"
           "(n,fh,fw) ground truth. Each LR image is min-max normalised, each GT image divided\n"
           "by its max; the last images are held out for validation (PSNR). Checkpoints are\n"
           "written atomically every --checkpoint-every steps and at the end (resume with\n"
           "--resume); the weights with the best validation PSNR go to --best.");
  p.add("net", &net, "network (sisr; for spynet and dpa_tisr see abbe train --net NAME --help)");
  p.add("lr-stack", &lr_path, "LR input stack (n,h,w)").meta("FILE").required();
  p.add("gt-stack", &gt_path, "ground-truth stack (n,fh,fw)").meta("FILE").required();
  p.add("out", &out, "checkpoint to write (last step, resumable)").meta("FILE").required();
  p.add("best", &best, "best-validation weights")
      .meta("FILE")
      .shown_default("OUT with .best.safetensors");
  p.add("steps", &o.steps, "optimiser steps").range(1, 1e9);
  p.add("batch", &o.batch, "patches per step").range(1, 4096);
  p.add("patch", &o.patch, "LR patch side (the GT patch is scale x this)").range(4, 4096);
  p.add("lr", &o.lr, "Adam learning rate").range(1e-12, 10);
  p.add("beta1", &o.beta1, "Adam beta1").range(0, 0.999999);
  p.add("beta2", &o.beta2, "Adam beta2").range(0, 0.999999);
  p.add("schedule", &o.schedule,
        "lr schedule: constant, cosine[:eta_min], step:N:gamma, multistep:a,b:gamma");
  p.add("scale", &scale, "SR factor").range(1, 8).shown_default("GT size / LR size");
  p.add("channels", &o.net.channels, "feature channels").range(1, 1024);
  p.add("extract-blocks", &o.net.n_extract, "residual blocks in feature extraction").range(0, 100);
  p.add("recon-blocks", &o.net.n_recon, "residual blocks in reconstruction").range(0, 100);
  p.add("dropout", &o.net.dropout, "dropout in the residual blocks (the reference uses 0.5)")
      .range(0, 0.95);
  p.add("seed", &o.seed, "seed for weights, patches and dropout");
  p.add("val-count", &o.val_count, "images held out for validation")
      .range(-1, 1e6)
      .shown_default("n/8 in [1, 16]");
  p.add("val-every", &o.val_every, "validate every N steps (0: at the end only)").range(0, 1e9);
  p.add("checkpoint-every", &o.checkpoint_every, "checkpoint every N steps (0: at the end only)")
      .range(0, 1e9);
  p.add("resume", &resume, "continue from this checkpoint").meta("FILE");
  p.add("minutes", &minutes, "time budget: fit the step count to it (0: none)").range(0, 1e6);
  p.add("log", &log_path, "write JSON-lines events here").meta("FILE");
  add_device_flag(p, &device);
  if (!parse_or_help(p, args)) return 0;
  o.device = resolve_device(device);
  if (net != "sisr") throw UsageError("--net: unknown net '" + net + "' (available: sisr, spynet, dpa_tisr)");
  if (best.empty()) best = best_path_for(out);
  if (best == out) throw UsageError("--best must differ from --out");
  check_writable(out, "--out");
  check_writable(best, "--best");

  const Tensor lr = io::read_tiff(lr_path), gt = io::read_tiff(gt_path);
  io::check_finite(lr, "LR stack '" + lr_path + "'");
  io::check_finite(gt, "GT stack '" + gt_path + "'");
  o.net.scale = pair_scale(lr, gt, lr_path, gt_path, scale);
  if (o.patch > lr.size(1) || o.patch > lr.size(2))
    ABBE_FAIL("--patch ", o.patch, " is larger than the LR images of '", lr_path, "' (", lr.size(1),
              " x ", lr.size(2), ")");
  o.checkpoint_path = out;
  o.best_path = best;
  o.time_budget_s = minutes * 60;

  train::SisrTrainer trainer(o, lr, gt);
  if (!resume.empty()) trainer.resume(resume);
  JsonLog log(log_path);
  io::Json start = io::Json::object({{"event", "start"},
                                     {"command", "train"},
                                     {"lr_stack", lr_path},
                                     {"gt_stack", gt_path},
                                     {"images", lr.size(0)},
                                     {"train_images", trainer.train_count()},
                                     {"val_images", trainer.val_count()},
                                     {"from_step", trainer.step()}});
  start["options"] = options_json(o);
  log.write(start);
  std::fprintf(
      stderr,
      "training sisr x%d (%lld channels, %d+%d blocks, %lld parameters) on %lld "
      "image(s) (%lld held out)%s\n",
      o.net.scale, (long long)o.net.channels, o.net.n_extract, o.net.n_recon,
      (long long)trainer.model().parameter_count(), (long long)trainer.train_count(),
      (long long)trainer.val_count(),
      resume.empty() ? "" : (", resuming at step " + std::to_string(trainer.step())).c_str());

  Progress progress("train", "it", Progress::stderr_is_terminal());
  train::TrainResult r;
  try {
    r = trainer.run(train_callbacks(progress, log));
  } catch (const Error& e) {
    progress.finish();
    log.write(io::Json::object({{"event", "error"}, {"message", e.what()}}));
    throw;
  }
  progress.finish();
  log.write(io::Json::object({{"event", "done"},
                              {"steps", r.steps},
                              {"seconds", r.seconds},
                              {"final_loss", r.final_loss},
                              {"best_val_psnr", r.best_val_psnr},
                              {"best_step", r.best_step}}));

  std::printf("trained %lld steps in %s, final loss %s\n", (long long)r.steps,
              format_duration(r.seconds).c_str(), fixed(r.final_loss, 5).c_str());
  if (trainer.val_count() > 0)
    std::printf("best validation PSNR %s dB at step %lld (%lld held-out images)\n",
                fixed(r.best_val_psnr, 2).c_str(), (long long)r.best_step,
                (long long)trainer.val_count());
  std::printf("wrote %s (last step, resumable with --resume)%s\n", out.c_str(),
              trainer.val_count() > 0 ? (" and " + best + " (best validation)").c_str() : "");
  return 0;
}

}  // namespace abbe::cli
