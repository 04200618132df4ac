// The abbe command line end to end on tiny data: simulate -> train -> infer, --help, and bad
// input (each gives a message naming the problem, a non-zero exit and no output file).
#include <filesystem>

#include "data/tiff.h"
#include "nets/sisr.h"
#include "tests/testing.h"
#include "train/checkpoint.h"
#include "train/sisr_trainer.h"

namespace abbe {
namespace {

namespace fs = std::filesystem;
using testing::run_abbe;

// Tiny net and data: 4 pairs 16x16 -> 32x32, 4 channels, 1+1 blocks, a few steps.
const std::string kNetFlags = " --channels 4 --extract-blocks 1 --recon-blocks 1";

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    std::string out;
    ASSERT_EQ(run_abbe("simulate --out " + dir_->file("sim") + " --count 4 --size 32 --seed 3", &out), 0) << out;
    ASSERT_EQ(run_abbe("train --lr-stack " + dir_->file("sim/lr.tif") + " --gt-stack " +
                           dir_->file("sim/gt.tif") + " --out " + dir_->file("w.safetensors") +
                           " --steps 4 --batch 2 --patch 8 --val-every 2" + kNetFlags, &out), 0)
        << out;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string file(const std::string& n) { return dir_->file(n); }

  // Runs a command that must fail: non-zero exit, output mentions `needle`, `must_not_exist` absent.
  static void expect_failure(const std::string& args, const std::string& needle,
                             const std::string& must_not_exist = "") {
    std::string out;
    const int code = run_abbe(args, &out);
    EXPECT_NE(code, 0) << args << "\n" << out;
    EXPECT_NE(out.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << out;
    EXPECT_EQ(out.find("terminate"), std::string::npos) << out;  // no uncaught exception
    if (!must_not_exist.empty()) {
      EXPECT_FALSE(fs::exists(must_not_exist)) << must_not_exist;
    }
  }

  static testing::TempDir* dir_;
};
testing::TempDir* Cli::dir_ = nullptr;

TEST_F(Cli, SimulateWritesStacksOfTheRightShape) {
  io::TiffInfo lr_info, gt_info;
  const Tensor lr = io::read_tiff(file("sim/lr.tif"), &lr_info), gt = io::read_tiff(file("sim/gt.tif"), &gt_info);
  EXPECT_EQ(lr.shape(), (Shape{4, 16, 16}));
  EXPECT_EQ(gt.shape(), (Shape{4, 32, 32}));
  EXPECT_EQ(lr_info.bits, 16);
  EXPECT_TRUE(gt_info.is_float);
  EXPECT_TRUE(fs::exists(file("sim/meta.json")));
}

TEST_F(Cli, InferWritesOneSrFramePerInputFrame) {
  std::string out;
  ASSERT_EQ(run_abbe("infer --weights " + file("w.safetensors") + " " + file("sim/lr.tif") + " " +
                         file("sr.tif"), &out), 0) << out;
  EXPECT_EQ(io::read_tiff(file("sr.tif")).shape(), (Shape{4, 32, 32}));
}

TEST_F(Cli, RawInferEqualsTheLibraryForward) {
  std::string out;
  ASSERT_EQ(run_abbe("infer --raw --weights " + file("w.safetensors") + " " + file("sim/gt.tif") +
                         " " + file("sr_raw.tif"), &out), 0) << out;
  const Tensor sr = io::read_tiff(file("sr_raw.tif"));
  SisrConfig cfg{2, 4, 1, 1, false, 0.0};
  SISR net(cfg);
  train::load_weights(file("w.safetensors"), net);
  const Tensor in = io::read_tiff(file("sim/gt.tif"));
  for (int64_t i = 0; i < in.size(0); ++i) {
    const Tensor expect = train::sisr_infer(net, select(in, 0, i).contiguous(), /*normalise=*/false);
    EXPECT_ALL_CLOSE(select(sr, 0, i).contiguous(), expect, 1e-6, 1e-6);
  }
}

TEST_F(Cli, HelpForEveryCommand) {
  for (const char* cmd : {"simulate", "train", "infer", "demo"}) {
    std::string out;
    EXPECT_EQ(run_abbe(std::string(cmd) + " --help", &out), 0) << cmd;
    EXPECT_NE(out.find("usage: abbe " + std::string(cmd)), std::string::npos) << out;
  }
  std::string out;
  EXPECT_EQ(run_abbe("--help", &out), 0);
  EXPECT_NE(run_abbe("frobnicate", &out), 0);
  EXPECT_NE(out.find("frobnicate"), std::string::npos) << out;
}

TEST_F(Cli, BadFlagsAndNumbers) {
  expect_failure("infer --weigths x.safetensors a.tif b.tif", "--weigths");
  expect_failure("simulate --out " + file("bad") + " --count many", "--count", file("bad"));
  expect_failure("train --lr-stack " + file("sim/lr.tif"), "--gt-stack");
}

TEST_F(Cli, MissingInputFile) {
  expect_failure("infer --weights " + file("w.safetensors") + " " + file("nope.tif") + " " + file("o1.tif"),
                 "nope.tif", file("o1.tif"));
  expect_failure("infer --weights " + file("missing.safetensors") + " " + file("sim/lr.tif") + " " +
                     file("o2.tif"), "missing.safetensors", file("o2.tif"));
}

TEST_F(Cli, MismatchedTrainingPair) {
  // GT must be scale x LR: pair the LR stack with itself.
  expect_failure("train --lr-stack " + file("sim/lr.tif") + " --gt-stack " + file("sim/lr.tif") +
                     " --scale 2 --out " + file("bad.safetensors") + " --steps 1" + kNetFlags,
                 "lr.tif", file("bad.safetensors"));
}

TEST_F(Cli, TruncatedWeightsFile) {
  const auto size = fs::file_size(file("w.safetensors"));
  fs::copy_file(file("w.safetensors"), file("trunc.safetensors"), fs::copy_options::overwrite_existing);
  fs::resize_file(file("trunc.safetensors"), size / 2);
  expect_failure("infer --weights " + file("trunc.safetensors") + " " + file("sim/lr.tif") + " " +
                     file("o3.tif"), "trunc.safetensors", file("o3.tif"));
}

TEST_F(Cli, NoTempFilesLeftBehind) {
  for (const auto& e : fs::recursive_directory_iterator(dir_->path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path().string();
}

}  // namespace
}  // namespace abbe
