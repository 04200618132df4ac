// End-to-end training of the SISR net in-process (label e2e):
//   - a tiny net trained for a few hundred steps on simulated data beats bilinear upsampling on
//     held-out images (PSNR and SSIM after the gain/offset fit, so intensity scaling alone
//     cannot win) — this fails if gradients, the optimiser, the data pairing or the
//     augmentation are broken;
//   - resuming from a mid-run checkpoint repeats the uninterrupted run's steps exactly;
//   - a time budget ends the run in time with the lr annealed;
//   - a diverging run stops with an error naming the step and leaves the last checkpoint;
//   - training on the CUDA device (the emulator here, with dropout) follows the CPU run, and its
//     checkpoint resumes on the CPU.
#include <cmath>
#include <filesystem>

#include "data/normalize.h"
#include "data/simulate.h"
#include "graph/views.h"
#include "metrics/image_metrics.h"
#include "tests/testing.h"
#include "train/checkpoint.h"
#include "train/sisr_trainer.h"

namespace abbe {
namespace {

data::SimConfig small_sim() {
  data::SimConfig c;
  c.hr_size = 64;  // LR 32 x 32
  c.filaments = 4;
  c.blobs = 8;
  return c;
}

train::SisrTrainOptions small_options() {
  train::SisrTrainOptions o;
  o.net = SisrConfig{
      .scale = 2, .channels = 16, .n_extract = 1, .n_recon = 1, .bayesian = false, .dropout = 0.0};
  o.batch = 8;
  o.patch = 24;
  o.lr = 2e-3;
  o.seed = 5;
  o.val_count = 2;
  o.val_every = 0;
  o.checkpoint_every = 0;
  return o;
}

TEST(SisrTrain, BeatsBilinearOnHeldOutImages) {
  const data::SimConfig sim = small_sim();
  const data::SimPair train_set = data::simulate_stack(sim, 21, 24);
  const data::SimPair test_set = data::simulate_stack(sim, 22, 4);
  train::SisrTrainOptions o = small_options();
  o.steps = 300;
  train::SisrTrainer trainer(o, train_set.lr, train_set.hr);
  const train::TrainResult r = trainer.run();
  EXPECT_EQ(r.steps, 300);
  EXPECT_LT(trainer.loss_at_step(300), trainer.loss_at_step(1));

  double sr_psnr = 0, bl_psnr = 0, sr_ssim = 0, bl_ssim = 0;
  for (int64_t i = 0; i < 4; ++i) {
    const Tensor lr = raw::select(test_set.lr, 0, i);
    const Tensor gt = io::divide_by_max(raw::select(test_set.hr, 0, i));
    const Tensor sr = train::sisr_infer(trainer.model(), lr);
    const Tensor bl = raw::reshape(
        upsample_bilinear(raw::reshape(io::min_max(lr), {1, 1, 32, 32}), 2, false), {64, 64});
    const Tensor sr_fit = metrics::linear_fit(sr, gt), bl_fit = metrics::linear_fit(bl, gt);
    sr_psnr += metrics::psnr(sr_fit, gt) / 4, bl_psnr += metrics::psnr(bl_fit, gt) / 4;
    sr_ssim += metrics::ssim(sr_fit, gt) / 4, bl_ssim += metrics::ssim(bl_fit, gt) / 4;
  }
  std::printf("held-out (fitted): SR PSNR %.2f dB SSIM %.4f | bilinear PSNR %.2f dB SSIM %.4f\n",
              sr_psnr, sr_ssim, bl_psnr, bl_ssim);
  EXPECT_GT(sr_psnr, bl_psnr + 1.0) << "training did not beat bilinear upsampling by 1 dB";
  EXPECT_GT(sr_ssim, bl_ssim + 0.05);
}

TEST(SisrTrain, ResumeRepeatsTheUninterruptedRun) {
  testing::TempDir dir;
  const data::SimPair set = data::simulate_stack(small_sim(), 31, 6);
  train::SisrTrainOptions o = small_options();
  o.net.dropout = 0.2;  // the dropout masks must be reproduced too
  o.steps = 16;
  o.batch = 4;
  o.patch = 16;
  o.checkpoint_every = 8;
  o.checkpoint_path = dir.file("run.safetensors");
  const std::string mid = dir.file("mid.safetensors");

  // The uninterrupted run; its step-8 checkpoint is copied aside before step 16 overwrites it.
  train::SisrTrainer full(o, set.lr, set.hr);
  train::TrainCallbacks cb;
  cb.on_checkpoint = [&](const std::string& path, int64_t step) {
    if (step == 8) std::filesystem::copy_file(path, mid);
  };
  full.run(cb);
  ASSERT_TRUE(std::filesystem::exists(mid));

  o.checkpoint_path = dir.file("resumed.safetensors");
  train::SisrTrainer resumed(o, set.lr, set.hr);
  resumed.resume(mid);
  EXPECT_EQ(resumed.step(), 8);
  const train::TrainResult r = resumed.run();
  EXPECT_EQ(r.steps, 16);
  for (int64_t t = 9; t <= 16; ++t)
    EXPECT_EQ(resumed.loss_at_step(t), full.loss_at_step(t)) << "step " << t;
  const NamedTensors wa = full.model().state_dict(), wb = resumed.model().state_dict();
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_ALL_CLOSE(wb[i].second, wa[i].second, 0, 0);

  // A checkpoint at or past the run's end is refused with a message.
  train::SisrTrainer done(o, set.lr, set.hr);
  EXPECT_THROW(done.resume(o.checkpoint_path), Error);
}

TEST(SisrTrain, TimeBudgetEndsTheRunWithTheScheduleAnnealed) {
  const data::SimPair set = data::simulate_stack(small_sim(), 51, 4);
  train::SisrTrainOptions o = small_options();
  o.val_count = 1;
  o.steps = 1000000;
  o.batch = 2;
  o.patch = 16;
  o.time_budget_s = 2.0;
  train::SisrTrainer trainer(o, set.lr, set.hr);
  std::vector<double> lrs;
  int64_t last_total = -1;
  train::TrainCallbacks cb;
  cb.on_step = [&](const train::StepReport& r) {
    lrs.push_back(r.lr);
    last_total = r.total;
  };
  const train::TrainResult r = trainer.run(cb);
  EXPECT_LT(r.seconds, o.time_budget_s + 2.0);
  EXPECT_GT(r.steps, 2);
  EXPECT_EQ(last_total, r.steps);
  // The cosine is followed by progress through the budget: it only falls, and ends low.
  for (size_t i = 1; i < lrs.size(); ++i) ASSERT_LE(lrs[i], lrs[i - 1]) << "step " << i + 1;
  EXPECT_LT(lrs.back(), 0.5 * o.lr);
}

TEST(SisrTrain, DivergenceNamesTheStepAndKeepsTheLastCheckpoint) {
  testing::TempDir dir;
  const data::SimPair set = data::simulate_stack(small_sim(), 41, 3);
  train::SisrTrainOptions o = small_options();
  o.val_count = 0;
  o.steps = 20;
  o.batch = 2;
  o.patch = 16;
  o.lr = 1e30;  // Adam moves every weight by ~lr: the second forward overflows
  o.checkpoint_every = 1;
  o.checkpoint_path = dir.file("ckpt.safetensors");
  train::SisrTrainer trainer(o, set.lr, set.hr);
  try {
    trainer.run();
    FAIL() << "training with lr 1e30 did not diverge";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("diverged"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step " + std::to_string(trainer.step() + 1)), std::string::npos) << msg;
  }
  ASSERT_GE(trainer.step(), 1);
  SISR net(o.net);
  const train::CheckpointInfo info = train::load_checkpoint(o.checkpoint_path, net);
  EXPECT_EQ(info.step, trainer.step());
}

#if ABBE_WITH_CUDA
TEST(SisrTrain, CudaRunFollowsTheCpuRun) {
  testing::TempDir dir;
  const data::SimPair set = data::simulate_stack(small_sim(), 41, 5);
  train::SisrTrainOptions o = small_options();
  o.net.dropout = 0.2;  // the CUDA dropout mask must be the CPU's
  o.val_count = 1;
  o.steps = 6;
  o.batch = 2;
  o.patch = 16;
  train::SisrTrainer cpu(o, set.lr, set.hr);
  cpu.run();
  o.device = Device::cuda();
  o.checkpoint_path = dir.file("cuda.safetensors");
  train::SisrTrainer gpu(o, set.lr, set.hr);
  EXPECT_EQ(gpu.model().named_parameters().front().second.device(), Device::cuda());
  const train::TrainResult r = gpu.run();
  EXPECT_EQ(r.steps, 6);
  for (int64_t t = 1; t <= 6; ++t)
    EXPECT_NEAR(gpu.loss_at_step(t), cpu.loss_at_step(t), 1e-4 * cpu.loss_at_step(t)) << "step " << t;
  const NamedTensors wc = cpu.model().state_dict(), wg = gpu.model().state_dict();
  for (size_t i = 0; i < wc.size(); ++i) EXPECT_ALL_CLOSE(wg[i].second.to(Device::cpu()), wc[i].second, 1e-3, 1e-5);
  // The checkpoint holds CPU tensors: a CPU trainer loads it.
  o.device = Device::cpu();
  o.steps = 8;
  train::SisrTrainer resumed(o, set.lr, set.hr);
  resumed.resume(o.checkpoint_path);
  EXPECT_EQ(resumed.step(), 6);
}
#endif

}  // namespace
}  // namespace abbe
