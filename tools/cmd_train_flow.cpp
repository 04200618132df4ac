// abbe train --net spynet: SPyNet pretraining on `abbe simulate tisr` movies with their true flow
// (train/flow_trainer.h), end-point-error loss; writes weights that load into DPA-TISR.
#include <chrono>
#include <cstdio>

#include "tools/commands.h"
#include "tools/progress.h"
#include "train/flow_trainer.h"

namespace abbe::cli {

int run_train_spynet(const Args& args) {
  std::string net, data, out, log_path, device = "auto";
  train::FlowTrainOptions o;
  Parser p("train", "--net spynet --data DIR --out SPYNET.safetensors [flags]",
           "Pretrain SPyNet on simulated movies with known motion (DIR from abbe simulate tisr):\n"
           "pairs of consecutive frames and their true flow, average end-point-error loss, Adam\n"
           "with a cosine schedule; the last sequence is held out and scored (EPE, camera pixels,\n"
           "next to the zero flow's). Writes the weights named as inside DPA-TISR (spynet.*).");
  p.add("net", &net, "network (spynet)");
  p.add("data", &data, "directory of seq_*/ from abbe simulate tisr").meta("DIR").required();
  p.add("out", &out, "weights to write").meta("FILE").required();
  p.add("steps", &o.steps, "optimiser steps").range(1, 1e9);
  p.add("batch", &o.batch, "pairs per step").range(1, 4096);
  p.add("patch", &o.patch, "crop side, camera pixels").range(8, 4096);
  p.add("lr", &o.lr, "Adam learning rate").range(1e-12, 10);
  p.add("schedule", &o.schedule, "lr schedule: constant, cosine[:eta_min], step:N:gamma, multistep:a,b:gamma");
  p.add("seed", &o.seed, "seed for the crops");
  p.add("val-every", &o.val_every, "validate every N steps (0: at the end only)").range(0, 1e9);
  p.add("log", &log_path, "write JSON-lines events here").meta("FILE");
  add_device_flag(p, &device);
  if (!parse_or_help(p, args)) return 0;
  o.device = resolve_device(device);
  check_writable(out, "--out");
  train::FlowTrainer trainer(o, train::load_flow_pairs(data));
  JsonLog log(log_path);
  const double zero = trainer.zero_flow_epe(), before = trainer.validate();
  log.write(io::Json::object({{"event", "start"}, {"command", "train"}, {"net", "spynet"}, {"data", data},
                              {"steps", o.steps}, {"val_epe_zero_flow", zero}, {"val_epe_start", before}}));
  Progress progress("train", "it", Progress::stderr_is_terminal());
  char line[160];
  std::snprintf(line, sizeof line, "held-out EPE: zero flow %.4f px, untrained SPyNet %.4f px", zero, before);
  progress.note(line);
  double last = before;
  trainer.run(
      [&](const train::FlowStepReport& r) {
        char text[64];
        std::snprintf(text, sizeof text, "EPE %.4f lr %.2g", r.epe, r.lr);
        progress.update(r.step, r.total, r.steps_per_s, text);
        log.write(io::Json::object({{"event", "step"}, {"step", r.step}, {"epe", r.epe}, {"lr", r.lr}}));
      },
      [&](int64_t step, double epe) {
        last = epe;
        char text[96];
        std::snprintf(text, sizeof text, "step %lld: held-out EPE %.4f px", (long long)step, epe);
        progress.note(text);
        log.write(io::Json::object({{"event", "validation"}, {"step", step}, {"epe", epe}}));
      });
  progress.finish();
  trainer.save(out);
  log.write(io::Json::object({{"event", "done"}, {"out", out}, {"val_epe", last}}));
  std::printf("wrote %s; held-out EPE %.4f px (zero flow %.4f, untrained %.4f)\n", out.c_str(), last, zero,
              before);
  return 0;
}

}  // namespace abbe::cli
