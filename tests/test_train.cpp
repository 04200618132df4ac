// train/: optimisers against torch.optim, learning-rate schedules against hand-computed values,
// and checkpoints (round trip, resume reproduces the run bit for bit, clear errors, atomic save).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numbers>

#include "data/safetensors.h"
#include "layers/conv.h"
#include "tests/testing.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace abbe::train {
namespace {

using testing::TempDir;

// Runs f and expects an abbe::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
    return;
  }
  ADD_FAILURE() << "no abbe::Error thrown";
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.nbytes()) == 0;
}

// ---- optimisers vs torch.optim -------------------------------------------------------------
// The fixed problem: a 5-element parameter and three fixed gradients. Expected values are the
// parameter after each step, printed by torch 1.13 (/usr/bin/python3) with
//   p = torch.tensor(kP0, dtype=..., requires_grad=True); opt = torch.optim.<...>([p], ...)
//   for g in kGrads: p.grad = torch.tensor(g, dtype=...); opt.step(); print(p)
// (float32 as %.9g, float64 as %.17g: both read back exactly).
const std::vector<double> kP0 = {0.5, -1.25, 2.0, 0.0, -0.3};
const std::vector<std::vector<double>> kGrads = {
    {0.1, -0.2, 0.3, -0.4, 0.5}, {-0.05, 0.15, 0.25, 1.5, -0.7}, {0.2, 0.0, -0.35, 0.45, 0.01}};
using Expected = std::vector<std::vector<double>>;

Tensor make_vec(const std::vector<double>& v, DType dtype) {
  return Tensor::from_vector(v, {int64_t(v.size())}).to(dtype);
}

// |got - torch| <= atol + rtol |torch|, a few ulp. When abbe_core is built with FMA (the default
// -march=native on an AVX2 machine) every value here matches torch's AVX2 kernels bit for bit;
// without FMA the fused multiply-adds round twice and values differ by up to about 1 ulp.
void check_against_torch(const std::function<std::unique_ptr<Optimizer>(NamedTensors)>& make,
                         DType dtype, const Expected& expected) {
  Tensor p = make_vec(kP0, dtype).set_requires_grad(true);
  auto opt = make({{"p", p}});
  const double rtol = dtype == DType::f32 ? 4e-7 : 4e-16, atol = dtype == DType::f32 ? 1e-8 : 1e-16;
  for (size_t s = 0; s < kGrads.size(); ++s) {
    p.set_grad(make_vec(kGrads[s], dtype));
    opt->step();
    EXPECT_ALL_CLOSE(p, make_vec(expected[s], dtype), rtol, atol) << "after step " << s + 1;
  }
  EXPECT_EQ(opt->step_count(), 3);
}

TEST(Optimizer, AdamMatchesTorch) {
  // torch.optim.Adam([p], lr=0.1)
  check_against_torch(
      [](NamedTensors ps) { return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.1}); },
      DType::f32,
      {{0.400000006, -1.14999998, 1.89999998, 0.100000001, -0.400000006},
       {0.373366296, -1.1410675, 1.8008827, 0.0453533493, -0.378370315},
       {0.307555139, -1.13416266, 1.786502, -0.0130107887, -0.362394691}});
}

TEST(Optimizer, AdamL2MatchesTorch) {
  // torch.optim.Adam([p], lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
  check_against_torch(
      [](NamedTensors ps) {
        return std::make_unique<Adam>(
            ps,
            AdamOptions{.lr = 0.1, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
      },
      DType::f32,
      {{0.400000662, -1.15000033, 1.90000021, 0.0999997631, -0.399999797},
       {0.34236896, -1.09578717, 1.8008796, 0.0402770862, -0.367411792},
       {0.260358036, -1.0359261, 1.74890554, -0.0210732855, -0.341641307}});
}

TEST(Optimizer, AdamWMatchesTorch) {
  // torch.optim.AdamW([p], lr=0.1, weight_decay=0.1)
  check_against_torch(
      [](NamedTensors ps) {
        return std::make_unique<Adam>(
            ps, AdamOptions{.lr = 0.1, .weight_decay = 0.1, .decoupled = true});
      },
      DType::f32,
      {{0.395000011, -1.13749993, 1.88, 0.100000001, -0.397000015},
       {0.364416301, -1.11719251, 1.7620827, 0.0443533473, -0.371400326},
       {0.294960976, -1.09911573, 1.7300812, -0.0144543238, -0.351710707}});
}

TEST(Optimizer, AdamFloat64MatchesTorch) {
  // torch.optim.Adam([p], lr=0.1, weight_decay=0.1), float64
  check_against_torch(
      [](NamedTensors ps) {
        return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.1, .weight_decay = 0.1});
      },
      DType::f64,
      {{0.40000000666666624, -1.1500000030769231, 1.9000000020000001, 0.099999997500000049,
        -0.39999999787234047},
       {0.33809513248998674, -1.0913514216652516, 1.8005351966329057, 0.045215074058745704,
        -0.37308759089847066},
       {0.25848496134795662, -1.028105156131881, 1.741844849212782, -0.013302029487935713,
        -0.35030400178178767}});
}

TEST(Optimizer, SGDMatchesTorch) {
  // torch.optim.SGD([p], lr=0.1)
  check_against_torch(
      [](NamedTensors ps) { return std::make_unique<SGD>(ps, SGDOptions{.lr = 0.1}); }, DType::f32,
      {{0.49000001, -1.23000002, 1.97000003, 0.0400000028, -0.350000024},
       {0.495000005, -1.245, 1.94500005, -0.109999999, -0.280000031},
       {0.474999994, -1.245, 1.98000002, -0.155000001, -0.281000018}});
}

TEST(Optimizer, SGDMomentumMatchesTorch) {
  // torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.05)
  check_against_torch(
      [](NamedTensors ps) {
        return std::make_unique<SGD>(
            ps, SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.05});
      },
      DType::f32,
      {{0.487500012, -1.22375, 1.96000004, 0.0400000028, -0.348500013},
       {0.478556275, -1.20811808, 1.89268005, -0.0591799952, -0.327581763},
       {0.450353384, -1.18861282, 1.855075, -0.188675672, -0.308181226}});
}

TEST(Optimizer, SGDNesterovMatchesTorch) {
  // torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05), float32 and
  // float64
  auto make = [](NamedTensors ps) {
    return std::make_unique<SGD>(
        ps, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.05, .nesterov = true});
  };
  check_against_torch(make, DType::f32,
                      {{0.476249993, -1.20012498, 1.92400002, 0.0759999976, -0.392150015},
                       {0.471100628, -1.19596124, 1.825822, -0.177322015, -0.294709593},
                       {0.421633869, -1.17275286, 1.81777453, -0.353785247, -0.270878136}});
  check_against_torch(
      make, DType::f64,
      {{0.47625000000000001, -1.2001249999999999, 1.9239999999999999, 0.076000000000000012,
        -0.39215},
       {0.471100625, -1.1959613124999999, 1.8258219999999998, -0.17732200000000001, -0.294709575},
       {0.42163385656249996, -1.17275292378125, 1.8177744909999998, -0.35378524100000003,
        -0.27087812653749999}});
}

TEST(Optimizer, SkipsParametersWithoutGradLikeTorch) {
  // A parameter first updated at global step 3 gets the bias correction of its own first step.
  Tensor a = make_vec(kP0, DType::f32).set_requires_grad(true);
  Tensor b = make_vec(kP0, DType::f32).set_requires_grad(true);
  Adam opt({{"a", a}, {"b", b}}, {.lr = 0.1});
  for (int s = 0; s < 2; ++s) {
    a.set_grad(make_vec(kGrads[s], DType::f32));
    opt.step();
    opt.zero_grad();
    EXPECT_FALSE(a.grad().defined());
  }
  EXPECT_TRUE(bitwise_equal(b, make_vec(kP0, DType::f32)));
  b.set_grad(make_vec(kGrads[0], DType::f32));
  opt.step();
  Tensor fresh = make_vec(kP0, DType::f32).set_requires_grad(true);
  Adam ref({{"fresh", fresh}}, {.lr = 0.1});
  fresh.set_grad(make_vec(kGrads[0], DType::f32));
  ref.step();
  EXPECT_TRUE(bitwise_equal(b, fresh));

  const NamedTensors state = opt.state();
  const std::map<std::string, Tensor> st(state.begin(), state.end());
  EXPECT_EQ(st.at("step").item(), 3);
  EXPECT_EQ(st.at("step.a").item(), 2);
  EXPECT_EQ(st.at("step.b").item(), 1);
}

TEST(Optimizer, StateNamesAndLoadErrors) {
  Tensor w = Tensor::zeros({2, 3}).set_requires_grad(true);
  Tensor bias = Tensor::zeros({3}).set_requires_grad(true);
  Adam opt({{"conv.weight", w}, {"conv.bias", bias}});
  std::vector<std::string> names;
  for (auto& [n, t] : opt.state()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"step", "step.conv.weight", "step.conv.bias",
                                             "exp_avg.conv.weight", "exp_avg.conv.bias",
                                             "exp_avg_sq.conv.weight", "exp_avg_sq.conv.bias"}));

  const auto good = [&] {
    std::map<std::string, Tensor> m;
    for (auto& [n, t] : opt.state()) m[n] = t.clone();
    m["step"].fill_(7);
    m["exp_avg.conv.bias"].fill_(0.5);
    return m;
  };
  auto missing = good();
  missing.erase("exp_avg_sq.conv.weight");
  expect_error([&] { opt.load_state(missing); }, {"missing", "exp_avg_sq.conv.weight", "[2, 3]"});
  auto wrong_shape = good();
  wrong_shape["exp_avg.conv.weight"] = Tensor::zeros({3, 2});
  expect_error([&] { opt.load_state(wrong_shape); }, {"exp_avg.conv.weight", "[3, 2]", "[2, 3]"});
  auto extra = good();
  extra["exp_avg.other"] = Tensor::zeros({1});
  expect_error([&] { opt.load_state(extra); }, {"unexpected", "exp_avg.other"});
  auto bad_count = good();
  bad_count["step.conv.bias"].fill_(1.5);
  expect_error([&] { opt.load_state(bad_count); }, {"step.conv.bias", "whole number"});
  EXPECT_EQ(opt.step_count(), 0) << "a failed load_state must change nothing";

  opt.load_state(good());
  EXPECT_EQ(opt.step_count(), 7);
  const NamedTensors state = opt.state();
  const std::map<std::string, Tensor> st(state.begin(), state.end());
  EXPECT_EQ(st.at("exp_avg.conv.bias").to_vector<float>(), std::vector<float>(3, 0.5f));
}

TEST(Optimizer, RejectsBadOptions) {
  Tensor p = Tensor::zeros({2}).set_requires_grad(true);
  expect_error([&] { SGD({{"p", p}}, SGDOptions{}); }, {"lr must be set"});
  expect_error(
      [&] {
        SGD({{"p", p}}, {.lr = 0.1, .momentum = 0, .nesterov = true});
      },
      {"nesterov"});
  expect_error([&] { Adam({{"p", p}}, {.beta1 = 1.0}); }, {"beta1"});
  expect_error([&] { Adam({{"p", p}, {"p", p}}); }, {"'p'", "twice"});
  Adam opt({{"p", p}});
  p.set_grad(Tensor::zeros({3}));
  expect_error([&] { opt.step(); }, {"'p'", "[3]", "[2]"});
}

// ---- schedules ------------------------------------------------------------------------------

TEST(Schedule, ClosedForms) {
  StepLR step(0.1, 3, 0.5);
  EXPECT_DOUBLE_EQ(step.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(step.lr_at(2), 0.1);
  EXPECT_DOUBLE_EQ(step.lr_at(3), 0.05);
  EXPECT_DOUBLE_EQ(step.lr_at(7), 0.025);

  MultiStepLR multi(1.0, {2, 5}, 0.1);
  EXPECT_DOUBLE_EQ(multi.lr_at(1), 1.0);
  EXPECT_DOUBLE_EQ(multi.lr_at(2), 0.1);
  EXPECT_DOUBLE_EQ(multi.lr_at(4), 0.1);
  EXPECT_DOUBLE_EQ(multi.lr_at(5), 0.01);
  EXPECT_DOUBLE_EQ(multi.lr_at(100), 0.01);

  CosineAnnealingLR cos(1.0, 10, 0.1);
  EXPECT_DOUBLE_EQ(cos.lr_at(0), 1.0);
  EXPECT_DOUBLE_EQ(cos.lr_at(5), 0.55);
  EXPECT_NEAR(cos.lr_at(2), 0.1 + 0.9 * (1 + 0.80901699437494742) / 2, 1e-15);  // cos 36 deg
  EXPECT_NEAR(cos.lr_at(10), 0.1, 1e-15);
  EXPECT_NEAR(cos.lr_at(15), 0.55, 1e-15);  // periodic past T_max, as PyTorch's closed form

  EXPECT_DOUBLE_EQ(ConstantLR(0.5).lr_at(0), 0.5);
  EXPECT_DOUBLE_EQ(ConstantLR(0.5).lr_at(123456), 0.5);
  ConstantLR warm(0.5, 0.25, 4);  // torch ConstantLR(factor=0.25, total_iters=4)
  EXPECT_DOUBLE_EQ(warm.lr_at(3), 0.125);
  EXPECT_DOUBLE_EQ(warm.lr_at(4), 0.5);
}

TEST(Schedule, FromSpec) {
  EXPECT_DOUBLE_EQ(make_schedule("constant", 0.01, 100)->lr_at(50), 0.01);
  auto cos = make_schedule("cosine", 2.0, 100);
  EXPECT_DOUBLE_EQ(cos->lr_at(50), 1.0);
  EXPECT_NEAR(cos->lr_at(100), 0.0, 1e-15);
  EXPECT_NEAR(make_schedule("cosine:0.5", 2.0, 100)->lr_at(100), 0.5, 1e-15);
  auto step = make_schedule("step:1000:0.5", 1.0, 0);
  EXPECT_DOUBLE_EQ(step->lr_at(999), 1.0);
  EXPECT_DOUBLE_EQ(step->lr_at(2000), 0.25);
  auto multi = make_schedule("multistep:1000,2000:0.5", 1.0, 0);
  EXPECT_DOUBLE_EQ(multi->lr_at(1500), 0.5);
  EXPECT_DOUBLE_EQ(multi->lr_at(2000), 0.25);
  EXPECT_EQ(multi->describe(), "multistep(base=1, milestones=[1000,2000], gamma=0.5)");

  for (const char* bad : {"steps:10:0.5", "step:abc:0.5", "step:10", "step:0:0.5", "multistep::0.5",
                          "multistep:20,10:0.5", "cosine:x", "", "constant:1"})
    expect_error([&] { make_schedule(bad, 0.1, 100); }, {"'" + std::string(bad) + "'"});
  expect_error([&] { make_schedule("cosine", 0.1, 0); }, {"'cosine'", "total_steps"});
}

// ---- checkpoints ----------------------------------------------------------------------------

std::shared_ptr<Sequential> make_model(uint64_t seed, int64_t hidden = 4) {
  Generator gen(seed);
  auto m = std::make_shared<Sequential>();
  m->push_back(std::make_shared<Conv2d>(
      Conv2dConfig{.in_channels = 1, .out_channels = hidden, .padding = 1}, gen));
  m->push_back(std::make_shared<Conv2d>(
      Conv2dConfig{.in_channels = hidden, .out_channels = 1, .padding = 1}, gen));
  return m;
}

// One step of a toy regression: conv(conv(x)) towards y.
void train_step(Sequential& model, Optimizer& opt, const Tensor& x, const Tensor& y) {
  opt.zero_grad();
  mse_loss(model.forward(x), y).backward();
  opt.step();
}

struct Toy {
  Tensor x, y;
  Toy() {
    Generator gen(11);
    x = Tensor::randn({2, 1, 6, 6}, gen);
    y = Tensor::randn({2, 1, 6, 6}, gen);
  }
};

void expect_same_params(const Module& a, const Module& b) {
  auto pa = a.state_dict(), pb = b.state_dict();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    EXPECT_TRUE(bitwise_equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
}

TEST(Checkpoint, ResumeReproducesTheRun) {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  Toy toy;
  auto model = make_model(1);
  Adam opt(model->named_parameters(), {.lr = 0.01, .weight_decay = 0.01, .decoupled = true});
  for (int s = 0; s < 3; ++s) train_step(*model, opt, toy.x, toy.y);
  opt.set_lr(0.005);
  save_checkpoint(path, *model, &opt, 3, {{"net", "toy"}});

  auto resumed = make_model(2);  // different initial weights
  Adam opt2(resumed->named_parameters(), {.lr = 0.01, .weight_decay = 0.01, .decoupled = true});
  const CheckpointInfo info = load_checkpoint(path, *resumed, &opt2);
  EXPECT_EQ(info.step, 3);
  EXPECT_EQ(info.metadata.at("format"), "abbe-checkpoint");
  EXPECT_EQ(info.metadata.at("optimizer"), "adamw");
  EXPECT_EQ(info.metadata.at("lr"), "0.005");
  EXPECT_EQ(info.metadata.at("beta2"), "0.999");
  EXPECT_EQ(info.metadata.at("net"), "toy");
  EXPECT_EQ(opt2.lr(), 0.005);
  EXPECT_EQ(opt2.step_count(), 3);
  expect_same_params(*model, *resumed);

  for (int s = 0; s < 2; ++s) {
    train_step(*model, opt, toy.x, toy.y);
    train_step(*resumed, opt2, toy.x, toy.y);
  }
  expect_same_params(*model, *resumed);
  auto sa = opt.state(), sb = opt2.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i)
    EXPECT_TRUE(bitwise_equal(sa[i].second, sb[i].second)) << sa[i].first;

  // The file is also a plain weights file: model tensors under their own names.
  io::SafetensorsFile raw = io::read_safetensors(path);
  EXPECT_TRUE(raw.tensors.count("0.weight") && raw.tensors.count("1.bias"));
  EXPECT_TRUE(raw.tensors.count("optimizer.exp_avg.0.weight"));
  EXPECT_EQ(raw.tensors.at("optimizer.step").item(), 3);
  auto weights_only = make_model(3);
  load_weights(path, *weights_only);
  auto saved = make_model(4);
  load_checkpoint(path, *saved);
  expect_same_params(*weights_only, *saved);
}

TEST(Checkpoint, SGDRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("sgd.safetensors");
  Toy toy;
  auto model = make_model(1);
  const SGDOptions o{.lr = 0.05, .momentum = 0.9, .nesterov = true};
  SGD opt(model->named_parameters(), o);
  for (int s = 0; s < 2; ++s) train_step(*model, opt, toy.x, toy.y);
  save_checkpoint(path, *model, &opt, 2);
  auto resumed = make_model(2);
  SGD opt2(resumed->named_parameters(), o);
  EXPECT_EQ(load_checkpoint(path, *resumed, &opt2).step, 2);
  train_step(*model, opt, toy.x, toy.y);
  train_step(*resumed, opt2, toy.x, toy.y);
  expect_same_params(*model, *resumed);
}

TEST(Checkpoint, ClearErrors) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  auto model = make_model(1);
  Adam opt(model->named_parameters());
  save_checkpoint(path, *model, &opt, 5);

  // A model of another shape: the message names the tensor and both shapes; nothing changes.
  auto wide = make_model(2, 8);
  const auto before = wide->state_dict()[0].second.clone();
  Adam wide_opt(wide->named_parameters());
  expect_error([&] { load_checkpoint(path, *wide, &wide_opt); },
               {path, "'0.weight'", "[4, 1, 3, 3]", "[8, 1, 3, 3]"});
  EXPECT_TRUE(bitwise_equal(wide->state_dict()[0].second, before));
  expect_error([&] { load_weights(path, *wide); }, {"'0.weight'", "[8, 1, 3, 3]"});

  // Optimiser kind mismatch; checkpoint without optimiser state.
  SGD sgd(model->named_parameters(), {.lr = 0.1, .momentum = 0.9});
  expect_error([&] { load_checkpoint(path, *model, &sgd); }, {"'adam'", "'sgd'"});
  const std::string bare = dir.file("bare.safetensors");
  save_checkpoint(bare, *model, nullptr, 1);
  expect_error([&] { load_checkpoint(bare, *model, &opt); }, {bare, "no optimizer state"});
  EXPECT_EQ(load_checkpoint(bare, *model).step, 1);

  // Plain weights are not a checkpoint (but load as weights).
  const std::string plain = dir.file("plain.safetensors");
  io::write_safetensors(plain, model->state_dict());
  expect_error([&] { load_checkpoint(plain, *model); },
               {plain, "not an abbe checkpoint", "load_weights"});
  load_weights(plain, *model);

  // Strict weights loading reports unknown tensors, non-strict skips them.
  auto narrow = std::make_shared<Sequential>();
  narrow->push_back(
      std::make_shared<Conv2d>(Conv2dConfig{.in_channels = 1, .out_channels = 4, .padding = 1}));
  expect_error([&] { load_weights(path, *narrow); }, {"'1.weight'", "not a parameter"});
  load_weights(path, *narrow, /*strict=*/false);

  expect_error(
      [&] {
        save_checkpoint(path, *model, &opt, 6, {{"step", "9"}});
      },
      {"'step'", "reserved"});
  EXPECT_EQ(load_checkpoint(path, *model, &opt).step, 5) << "a failed save must keep the old file";
}

TEST(Checkpoint, FailedSaveLeavesNoFile) {
  TempDir dir;
  auto model = make_model(1);
  Adam opt(model->named_parameters());
  const auto missing_dir = dir.path() / "no-such-dir";
  const std::string path = (missing_dir / "ckpt.safetensors").string();
  EXPECT_THROW(save_checkpoint(path, *model, &opt, 1), Error);
  EXPECT_FALSE(std::filesystem::exists(missing_dir));

  // The target is a directory: the rename fails after the temp file was written.
  std::filesystem::create_directory(dir.path() / "taken");
  EXPECT_THROW(save_checkpoint(dir.file("taken"), *model, &opt, 1), Error);
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"taken"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "taken"));
}

}  // namespace
}  // namespace abbe::train
