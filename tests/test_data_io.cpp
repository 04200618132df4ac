// File formats and data prep: safetensors (round trip, the reference layout, hostile files),
// atomic writes, TIFF stacks, JSON, normalisation and PNG panels.
#include <gtest/gtest.h>
#include <png.h>
#include <tiffio.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>

#include "autograd/ops.h"
#include "data/atomic_file.h"
#include "data/json.h"
#include "data/normalize.h"
#include "data/png.h"
#include "data/safetensors.h"
#include "data/tiff.h"

namespace fs = std::filesystem;
using namespace abbe;
using namespace abbe::io;

namespace {

// A fresh directory per test, removed afterwards.
class DataIo : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("abbe_data_io_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The message of the abbe::Error f throws ("" and a test failure if it does not throw one).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an abbe::Error";
  return "";
}
#define EXPECT_ERROR(stmt, ...)                                        \
  do {                                                                 \
    const std::string msg_ = error_of([&] { stmt; });                  \
    for (const char* part_ : {__VA_ARGS__})                            \
      EXPECT_NE(msg_.find(part_), std::string::npos)                   \
          << "message \"" << msg_ << "\" lacks \"" << part_ << "\"";   \
  } while (0)

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[k] = static_cast<char>(v >> (8 * k));
  return s;
}
// The reference layout: u64 header length, JSON padded with spaces to a multiple of 8, data.
std::string safetensors_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// safetensors

TEST_F(DataIo, SafetensorsRoundTrip) {
  const Tensor w = Tensor::from_vector(std::vector<float>{1.5f, -2, 0, 1e-30f, 3e38f, -0.0f}, {2, 3});
  const Tensor d = Tensor::from_vector(std::vector<double>{0.1, -1e300, 7, 1.0 / 3}, {4});
  const Tensor empty = Tensor::zeros({0, 3});
  const Tensor scalar = Tensor::from_vector(std::vector<float>{42}, Shape{});
  const NamedTensors in = {{"conv.weight", w}, {"layer.0.bias", d}, {"empty", empty}, {"step", scalar}};
  const std::string path = file("model.safetensors");
  write_safetensors(path, in, {{"format", "pt"}, {"note", "quote \" and \\ and \xc3\xa9"}});
  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});

  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(bytes[k]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 6 * 4 + 4 * 8 + 0 + 4);

  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.order, (std::vector<std::string>{"conv.weight", "layer.0.bias", "empty", "step"}));
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("note"), "quote \" and \\ and \xc3\xa9");
  EXPECT_EQ(f.tensors.at("conv.weight").shape(), Shape({2, 3}));
  EXPECT_EQ(f.tensors.at("conv.weight").dtype(), DType::f32);
  EXPECT_EQ(values(f.tensors.at("conv.weight")), values(w));
  EXPECT_EQ(f.tensors.at("layer.0.bias").dtype(), DType::f64);
  EXPECT_EQ(f.tensors.at("layer.0.bias").to_vector<double>(), d.to_vector<double>());
  EXPECT_EQ(f.tensors.at("empty").shape(), Shape({0, 3}));
  EXPECT_EQ(f.tensors.at("step").shape(), Shape{});
  EXPECT_EQ(f.tensors.at("step").item(), 42);

  // Overwriting publishes the new file whole and leaves no temp file.
  write_safetensors(path, {{"x", w}});
  EXPECT_EQ(read_safetensors(path).order, std::vector<std::string>{"x"});
  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(DataIo, SafetensorsReferenceLayoutLoads) {
  // As written by Python's safetensors (save_file sorts by dtype alignment, then name):
  //   save_file({"a": np.array([1.5, -2], np.float32), "b.c": np.array([[0.25], [3]]),
  //              "bf": torch.tensor([1, -0.5], dtype=torch.bfloat16),
  //              "h": np.array([-2.5, 2**-24], np.float16)}, metadata={"format": "pt"})
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b.c":{"dtype":"F64","shape":[2,1],"data_offsets":[0,16]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
      R"("bf":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[28,32]}})";
  const unsigned char data[] = {
      0, 0, 0, 0, 0, 0, 0xD0, 0x3F,  0, 0, 0, 0, 0, 0, 0x08, 0x40,  // f64 0.25, 3
      0, 0, 0xC0, 0x3F,  0, 0, 0, 0xC0,                               // f32 1.5, -2
      0x80, 0x3F,  0x00, 0xBF,                                        // bf16 1, -0.5
      0x00, 0xC1,  0x01, 0x00};                                       // f16 -2.5, 2^-24
  const std::string path = file("ref.safetensors");
  write_bytes(path, safetensors_bytes(header, std::string(reinterpret_cast<const char*>(data), sizeof data)));

  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.order, (std::vector<std::string>{"b.c", "a", "bf", "h"}));
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.tensors.at("b.c").shape(), Shape({2, 1}));
  EXPECT_EQ(f.tensors.at("b.c").to_vector<double>(), (std::vector<double>{0.25, 3}));
  EXPECT_EQ(values(f.tensors.at("a")), (std::vector<float>{1.5f, -2}));
  EXPECT_EQ(f.tensors.at("bf").dtype(), DType::f32);
  EXPECT_EQ(values(f.tensors.at("bf")), (std::vector<float>{1, -0.5f}));
  EXPECT_EQ(values(f.tensors.at("h")), (std::vector<float>{-2.5f, std::ldexp(1.0f, -24)}));
}

TEST_F(DataIo, SafetensorsHostileFiles) {
  const std::string e8(8, '\0');
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  };
  struct Case {
    const char* name;
    std::string bytes;
    std::vector<const char*> parts;
  };
  std::string nested = "{\"a\":";
  for (int k = 0; k < 1000; ++k) nested += '[';
  for (int k = 0; k < 1000; ++k) nested += ']';
  nested += '}';
  const std::vector<Case> cases = {
      {"short.safetensors", "\x10\0\0", {"too short"}},
      {"biglen.safetensors", le64(1000) + "{}", {"header length 1000", "larger than the rest"}},
      {"huge.safetensors", le64(200ull << 20) + "{}", {"exceeds the limit"}},
      {"json.safetensors", safetensors_bytes(R"({"a":{"dtype":"F32",}})", ""), {"invalid JSON", "byte"}},
      {"array.safetensors", safetensors_bytes("[1,2]", ""), {"expected a JSON object"}},
      {"i64.safetensors", safetensors_bytes("{" + entry("idx", "I64", "[1]", "[0,8]") + "}", e8),
       {"'idx'", "I64", "does not load"}},
      {"foo.safetensors", safetensors_bytes("{" + entry("x", "FOO", "[2]", "[0,8]") + "}", e8),
       {"'x'", "unknown dtype"}},
      {"mismatch.safetensors",
       safetensors_bytes("{" + entry("conv.weight", "F32", "[64,64,3,3]", "[0,100]") + "}",
                         std::string(100, '\0')),
       {"'conv.weight'", "data_offsets [0, 100]", "[64, 64, 3, 3]", "147456 bytes"}},
      {"past.safetensors", safetensors_bytes("{" + entry("x", "F32", "[100]", "[0,400]") + "}", e8),
       {"'x'", "past the end"}},
      {"overlap.safetensors",
       safetensors_bytes("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[4,12]") + "}",
                         std::string(12, '\0')),
       {"overlap"}},
      {"gap.safetensors",
       safetensors_bytes("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}",
                         std::string(12, '\0')),
       {"gap"}},
      {"trailing.safetensors", safetensors_bytes("{" + entry("a", "F32", "[1]", "[0,4]") + "}", e8),
       {"cover 4"}},
      {"negdim.safetensors", safetensors_bytes("{" + entry("x", "F32", "[-1,2]", "[0,8]") + "}", e8),
       {"'x'", "negative"}},
      {"sixdims.safetensors", safetensors_bytes("{" + entry("x", "F32", "[1,1,1,1,1,2]", "[0,8]") + "}", e8),
       {"at most 5"}},
      {"overflow.safetensors",
       safetensors_bytes("{" + entry("x", "F32", "[4294967296,4294967296,4]", "[0,8]") + "}", e8),
       {"more than 2^64"}},
      {"reversed.safetensors", safetensors_bytes("{" + entry("x", "F32", "[0]", "[8,0]") + "}", e8),
       {"invalid data_offsets"}},
      {"float_shape.safetensors", safetensors_bytes("{" + entry("x", "F32", "[2.0]", "[0,8]") + "}", e8),
       {"integers"}},
      {"meta.safetensors", safetensors_bytes(R"({"__metadata__":{"step":3}})", ""), {"__metadata__", "step"}},
      {"dup.safetensors",
       safetensors_bytes("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("a", "F32", "[1]", "[4,8]") + "}", e8),
       {"duplicate key"}},
      {"nested.safetensors", safetensors_bytes(nested, ""), {"nesting deeper"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = file(c.name);
    write_bytes(path, c.bytes);
    const std::string msg = error_of([&] { read_safetensors(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const char* part : c.parts) EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
  EXPECT_ERROR(read_safetensors(file("missing.safetensors")), "missing.safetensors", "cannot open");
  EXPECT_ERROR(read_safetensors(dir_.string()), "not a regular file");
}

TEST_F(DataIo, SafetensorsCorruptionNeverCrashes) {
  // Every truncation and many single-byte corruptions of a valid file load or throw abbe::Error.
  const std::string path = file("m.safetensors");
  write_safetensors(path, {{"a.weight", Tensor::ones({3, 2})}, {"b", Tensor::zeros({2}, DType::f64)}},
                    {{"k", "v"}});
  const std::string good = read_bytes(path);
  const std::string bad = file("bad.safetensors");
  int failures = 0;
  for (size_t len = 0; len < good.size(); ++len) {
    write_bytes(bad, good.substr(0, len));
    try {
      read_safetensors(bad);
    } catch (const Error&) {
      ++failures;
    }
  }
  EXPECT_EQ(failures, static_cast<int>(good.size()));  // no prefix is a valid file
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string b = good;
    b[rng() % b.size()] = static_cast<char>(rng());
    write_bytes(bad, b);
    try {
      read_safetensors(bad);
    } catch (const Error&) {
    }
  }
}

TEST_F(DataIo, SafetensorsWriteErrors) {
  const std::string missing = (dir_ / "no_such_dir" / "m.safetensors").string();
  EXPECT_ERROR(write_safetensors(missing, {{"a", Tensor::ones({2})}}), "no_such_dir", "does not exist");
  EXPECT_ERROR(write_safetensors(file("m.safetensors"), {{"a", Tensor::ones({2})}, {"a", Tensor::ones({2})}}),
               "duplicate tensor name 'a'");
  EXPECT_ERROR(write_safetensors(file("m.safetensors"), {{"a", Tensor()}}), "'a' is undefined");
  EXPECT_TRUE(listing().empty());
}

// ---------------------------------------------------------------------------------------------
// atomic writes

TEST_F(DataIo, AtomicWriteFailureLeavesOldFileAndNoTemp) {
  const std::string path = file("out.bin");
  write_bytes(path, "old");
  EXPECT_THROW(write_atomically(path,
                                [](const std::string& tmp) {
                                  write_bytes(tmp, "half written");
                                  throw Error("disk on fire");
                                }),
               Error);
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.bin"});
  write_atomically(path, [](const std::string& tmp) { write_bytes(tmp, "new"); });
  EXPECT_EQ(read_bytes(path), "new");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.bin"});
  // A writer that produces nothing is an error, not an empty file.
  EXPECT_ERROR(write_atomically(file("none.bin"), [](const std::string&) {}), "none.bin");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.bin"});
}

// ---------------------------------------------------------------------------------------------
// TIFF

TEST_F(DataIo, TiffRoundTripFormats) {
  // uint8: clipped and rounded to nearest (half away from zero).
  const Tensor u8in = Tensor::from_vector(std::vector<float>{0, 1.4f, 1.6f, 2.5f, 254.6f, 300, -5, 128}, {2, 4});
  write_tiff(file("u8.tif"), u8in, TiffFormat::uint8);
  TiffInfo info;
  Tensor u8 = read_tiff(file("u8.tif"), &info);
  EXPECT_EQ(u8.shape(), Shape({1, 2, 4}));
  EXPECT_EQ(values(u8), (std::vector<float>{0, 1, 2, 3, 255, 255, 0, 128}));
  EXPECT_EQ(info.bits, 8);
  EXPECT_FALSE(info.is_float);
  EXPECT_TRUE(info.imagej);
  EXPECT_EQ(info.frames, 1);

  // uint16 multi-page: (3, 2, 3), the extremes survive.
  std::vector<float> v16(18);
  for (size_t k = 0; k < v16.size(); ++k) v16[k] = static_cast<float>(k * 3000);
  v16[0] = 65535;
  v16[1] = 70000;  // clipped
  v16[17] = 40000.5f;
  write_tiff(file("u16.tif"), Tensor::from_vector(v16, {3, 2, 3}), TiffFormat::uint16);
  Tensor u16 = read_tiff(file("u16.tif"), &info);
  EXPECT_EQ(u16.shape(), Shape({3, 2, 3}));
  std::vector<float> want16 = v16;
  want16[1] = 65535;
  want16[17] = 40001;
  EXPECT_EQ(values(u16), want16);
  EXPECT_EQ(info.bits, 16);
  EXPECT_EQ(info.pages, 3);
  EXPECT_EQ(info.frames, 3);
  EXPECT_EQ(info.channels, 1);
  EXPECT_NE(info.description.find("images=3\nframes=3\n"), std::string::npos) << info.description;

  // float32: exact, including negative, tiny, huge values and NaN.
  const std::vector<float> vf = {-1.25f, 1e-30f, 3e38f, 0.1f, std::numeric_limits<float>::quiet_NaN(), 7};
  write_tiff(file("f32.tif"), Tensor::from_vector(vf, {2, 1, 3}), TiffFormat::float32);
  Tensor f32 = read_tiff(file("f32.tif"), &info);
  const std::vector<float> got = values(f32);
  for (size_t k = 0; k < vf.size(); ++k)
    EXPECT_TRUE(got[k] == vf[k] || (std::isnan(got[k]) && std::isnan(vf[k]))) << k;
  EXPECT_TRUE(info.is_float);
  EXPECT_EQ(info.bits, 32);
  EXPECT_EQ(read_tiff_info(file("f32.tif")).pages, 2);
  EXPECT_EQ(listing(), (std::vector<std::string>{"f32.tif", "u16.tif", "u8.tif"}));
}

namespace {

// Writes a TIFF directly with libtiff: pages of (h, w) samples of `bits`/`format`, optional
// tiles, compression, extra samples per pixel and an ImageDescription.
struct RawTiff {
  uint32_t w = 4, h = 3;
  int pages = 1;
  uint16_t bits = 16, format = SAMPLEFORMAT_UINT, spp = 1, compression = COMPRESSION_NONE;
  uint16_t photometric = PHOTOMETRIC_MINISBLACK;
  uint32_t tile = 0;  // tile edge, 0 for strips
  std::string description;
  uint32_t second_page_w = 0;  // differing page size when non-zero
};

void write_raw_tiff(const std::string& path, const RawTiff& r,
                    const std::function<double(int, uint32_t, uint32_t)>& value) {
  TIFF* tif = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(tif, nullptr);
  for (int p = 0; p < r.pages; ++p) {
    const uint32_t w = p == 1 && r.second_page_w ? r.second_page_w : r.w, h = r.h;
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, r.bits);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, r.spp);
    TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, r.format);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, r.photometric);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, r.compression);
    if (p == 0 && !r.description.empty()) TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, r.description.c_str());
    const size_t bps = r.bits / 8, px = bps * r.spp;
    const auto put = [&](uint8_t* dst, double v) {
      if (r.format == SAMPLEFORMAT_IEEEFP) {
        const float f = static_cast<float>(v);
        std::memcpy(dst, &f, 4);
      } else if (r.bits == 8) {
        *dst = static_cast<uint8_t>(v);
      } else if (r.bits == 16) {
        const uint16_t u = static_cast<uint16_t>(static_cast<int64_t>(v));
        std::memcpy(dst, &u, 2);
      } else {
        const uint32_t u = static_cast<uint32_t>(static_cast<int64_t>(v));
        std::memcpy(dst, &u, 4);
      }
    };
    if (r.tile) {
      TIFFSetField(tif, TIFFTAG_TILEWIDTH, r.tile);
      TIFFSetField(tif, TIFFTAG_TILELENGTH, r.tile);
      std::vector<uint8_t> buf(r.tile * r.tile * px);
      for (uint32_t y0 = 0; y0 < h; y0 += r.tile)
        for (uint32_t x0 = 0; x0 < w; x0 += r.tile) {
          std::fill(buf.begin(), buf.end(), 0);
          for (uint32_t y = y0; y < std::min(h, y0 + r.tile); ++y)
            for (uint32_t x = x0; x < std::min(w, x0 + r.tile); ++x)
              for (uint16_t s = 0; s < r.spp; ++s)
                put(&buf[((y - y0) * r.tile + (x - x0)) * px + s * bps], value(p, y, x));
          ASSERT_GE(TIFFWriteTile(tif, buf.data(), x0, y0, 0, 0), 0);
        }
    } else {
      TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, 2u);  // several strips, the last one short
      std::vector<uint8_t> row(w * px);
      for (uint32_t y = 0; y < h; ++y) {
        for (uint32_t x = 0; x < w; ++x)
          for (uint16_t s = 0; s < r.spp; ++s) put(&row[x * px + s * bps], value(p, y, x));
        ASSERT_EQ(TIFFWriteScanline(tif, row.data(), y, 0), 1);
      }
    }
    ASSERT_TRUE(TIFFWriteDirectory(tif));
  }
  TIFFClose(tif);
}

}  // namespace

TEST_F(DataIo, TiffReadsTilesCompressionAndSignedTypes) {
  const auto ramp = [](int p, uint32_t y, uint32_t x) { return p * 1000.0 + y * 40 + x; };
  RawTiff r;
  r.w = 37;
  r.h = 21;
  r.pages = 2;
  r.tile = 16;
  r.compression = COMPRESSION_LZW;
  write_raw_tiff(file("tiled.tif"), r, ramp);
  Tensor t = read_tiff(file("tiled.tif"));
  ASSERT_EQ(t.shape(), Shape({2, 21, 37}));
  const std::vector<float> v = values(t);
  for (int p = 0; p < 2; ++p)
    for (uint32_t y = 0; y < 21; ++y)
      for (uint32_t x = 0; x < 37; ++x)
        ASSERT_EQ(v[(p * 21 + y) * 37 + x], ramp(p, y, x)) << p << " " << y << " " << x;

  RawTiff s;
  s.format = SAMPLEFORMAT_INT;
  s.compression = COMPRESSION_ADOBE_DEFLATE;
  write_raw_tiff(file("i16.tif"), s, [](int, uint32_t y, uint32_t x) { return y * 10.0 - x * 1000.0; });
  TiffInfo info;
  const std::vector<float> vi = values(read_tiff(file("i16.tif"), &info));
  EXPECT_TRUE(info.is_signed);
  EXPECT_EQ(vi[3], -3000);
  EXPECT_EQ(vi[2 * 4 + 1], 20 - 1000);

  RawTiff u;
  u.bits = 32;
  write_raw_tiff(file("u32.tif"), u, [](int, uint32_t, uint32_t x) { return x == 0 ? 4000000000.0 : x; });
  EXPECT_EQ(values(read_tiff(file("u32.tif")))[0], 4e9f);
}

TEST_F(DataIo, TiffImageJHyperstack) {
  RawTiff r;
  r.pages = 6;
  r.bits = 8;
  r.description = "ImageJ=1.54f\nimages=6\nchannels=2\nslices=3\nhyperstack=true\nmode=composite\n";
  write_raw_tiff(file("hs.tif"), r, [](int p, uint32_t, uint32_t) { return p; });
  TiffInfo info;
  Tensor t = read_tiff(file("hs.tif"), &info);
  EXPECT_EQ(t.shape(), Shape({6, 3, 4}));
  EXPECT_TRUE(info.imagej);
  EXPECT_EQ(info.channels, 2);
  EXPECT_EQ(info.slices, 3);
  EXPECT_EQ(info.frames, 1);

  // Not from ImageJ: every page is a frame.
  r.description = "some microscope";
  write_raw_tiff(file("plain.tif"), r, [](int p, uint32_t, uint32_t) { return p; });
  info = read_tiff_info(file("plain.tif"));
  EXPECT_FALSE(info.imagej);
  EXPECT_EQ(info.frames, 6);
  EXPECT_EQ(info.description, "some microscope");

  // ImageJ's raw layout for stacks over 4 GB (one directory, images=N) is refused, not truncated.
  r.pages = 1;
  r.description = "ImageJ=1.54f\nimages=3\nframes=3\n";
  write_raw_tiff(file("big.tif"), r, [](int, uint32_t, uint32_t) { return 0; });
  EXPECT_ERROR(read_tiff(file("big.tif")), "big.tif", "images=3", "not supported");
}

TEST_F(DataIo, TiffRejectsBadFiles) {
  RawTiff rgb;
  rgb.bits = 8;
  rgb.spp = 3;
  rgb.photometric = PHOTOMETRIC_RGB;
  write_raw_tiff(file("rgb.tif"), rgb, [](int, uint32_t, uint32_t) { return 1; });
  EXPECT_ERROR(read_tiff(file("rgb.tif")), "rgb.tif", "page 0", "3 samples per pixel", "grayscale");

  RawTiff sizes;
  sizes.pages = 2;
  sizes.second_page_w = 5;
  write_raw_tiff(file("sizes.tif"), sizes, [](int, uint32_t, uint32_t) { return 1; });
  EXPECT_ERROR(read_tiff(file("sizes.tif")), "sizes.tif", "page 1", "differs from page 0");

  write_tiff(file("good.tif"), Tensor::ones({2, 8, 8}), TiffFormat::uint16);
  const std::string good = read_bytes(file("good.tif"));
  write_bytes(file("cut.tif"), good.substr(0, good.size() / 2));
  EXPECT_ERROR(read_tiff(file("cut.tif")), "cut.tif");
  // Every truncation either loads or throws abbe::Error; none crashes or prints.
  for (size_t len = 0; len < good.size(); len += 7) {
    write_bytes(file("cut.tif"), good.substr(0, len));
    try {
      read_tiff(file("cut.tif"));
    } catch (const Error&) {
    }
  }
  write_bytes(file("text.tif"), "this is not a tiff");
  EXPECT_ERROR(read_tiff(file("text.tif")), "text.tif", "cannot open as TIFF");
  EXPECT_ERROR(read_tiff(file("missing.tif")), "missing.tif", "cannot open");
}

TEST_F(DataIo, TiffWriteFailuresLeaveNothing) {
  const fs::path missing = dir_ / "no_such_dir";
  EXPECT_ERROR(write_tiff((missing / "x.tif").string(), Tensor::ones({4, 4}), TiffFormat::uint8),
               "no_such_dir", "does not exist");
  EXPECT_FALSE(fs::exists(missing));
  Tensor nan = Tensor::ones({2, 3, 3});
  nan.data<float>()[9 + 4] = std::nanf("");
  EXPECT_ERROR(write_tiff(file("nan.tif"), nan, TiffFormat::uint16), "nan.tif", "page 1, y 1, x 1", "NaN");
  EXPECT_ERROR(write_tiff(file("bad.tif"), Tensor::ones({1, 2, 3, 3}), TiffFormat::float32), "bad.tif");
  EXPECT_TRUE(listing().empty());
}

// Streaming: pages appended in pieces read back equal to write_tiff's, nothing visible until
// commit, nothing left when the writer dies early; a reader returns any range of pages.
TEST_F(DataIo, TiffStreamingWriterAndReader) {
  Generator gen(5);
  const Tensor stack = mul_scalar(Tensor::rand({7, 5, 6}, gen), 1000.0);
  for (TiffFormat fmt : {TiffFormat::float32, TiffFormat::uint16}) {
    const std::string path = file(std::string("s_") + tiff_format_name(fmt) + ".tif");
    {
      TiffStackWriter w(path, 7, 5, 6, fmt);
      w.append(narrow(stack, 0, 0, 3));
      w.append(select(stack, 0, 3));
      EXPECT_FALSE(fs::exists(path));  // not before commit
      w.append(narrow(stack, 0, 4, 3));
      w.commit();
    }
    write_tiff(file("whole.tif"), stack, fmt);
    EXPECT_EQ(read_tiff(path).to_vector<float>(), read_tiff(file("whole.tif")).to_vector<float>());
    TiffReader r(path);
    EXPECT_EQ(r.info().pages, 7);
    EXPECT_EQ(r.read(2, 3).to_vector<float>(), narrow(read_tiff(path), 0, 2, 3).to_vector<float>());
    EXPECT_EQ(r.read(6, 1).shape(), (Shape{1, 5, 6}));
    EXPECT_ERROR(r.read(5, 3), "out of range");
  }
  {
    TiffStackWriter w(file("partial.tif"), 4, 5, 6, TiffFormat::float32);
    w.append(narrow(stack, 0, 0, 2));
    EXPECT_ERROR(w.commit(), "2 of 4 pages");
  }
  {
    TiffStackWriter w(file("dies.tif"), 4, 5, 6, TiffFormat::float32);
    w.append(narrow(stack, 0, 0, 2));
  }
  EXPECT_FALSE(fs::exists(file("partial.tif")));
  EXPECT_FALSE(fs::exists(file("dies.tif")));
  for (const std::string& name : listing())
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
}

// ---------------------------------------------------------------------------------------------
// JSON

TEST(Json, ParsesValues) {
  const Json j = Json::parse(
      R"( {"a": [1, -0, 2.5, 1e3, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00",
          "big": 9223372036854775807, "bigger": 9223372036854775808, "tiny": 1e-400,
          "nested": {"x": {}}, "e": []} )");
  const Json& a = j.at("a");
  ASSERT_EQ(a.size(), 7u);
  EXPECT_TRUE(a.at(0).is_int());
  EXPECT_EQ(a.at(0).as_int(), 1);
  EXPECT_TRUE(a.at(1).is_int());
  EXPECT_EQ(a.at(2).as_double(), 2.5);
  EXPECT_FALSE(a.at(3).is_int());  // 1e3 is a double
  EXPECT_EQ(a.at(3).as_double(), 1000);
  EXPECT_TRUE(a.at(4).as_bool());
  EXPECT_FALSE(a.at(5).as_bool());
  EXPECT_TRUE(a.at(6).is_null());
  EXPECT_EQ(j.at("s").as_string(), "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(j.at("big").as_int(), std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(j.at("bigger").is_int());
  EXPECT_EQ(j.at("bigger").as_double(), 9223372036854775808.0);
  EXPECT_EQ(j.at("tiny").as_double(), 0.0);
  EXPECT_TRUE(j.at("nested").at("x").is_object());
  EXPECT_EQ(j.at("e").size(), 0u);
  EXPECT_EQ(j.find("missing"), nullptr);
  EXPECT_ERROR(j.at("missing"), "missing key \"missing\"");
  EXPECT_ERROR(j.at("s").as_int(), "expected an integer, got a string");
  EXPECT_ERROR(a.at(2).as_int(), "non-integer");
}

TEST(Json, RejectsInvalidTextWithOffsets) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "end of input, expected a value at byte 0"},
      {"[1,]", "expected a value at byte 3"},
      {R"({"a":1,})", "expected a string key in an object, found '}' at byte 7"},
      {"01", "leading zero"},
      {"1.", "digit after '.'"},
      {"-", "digit after '-'"},
      {"1e", "exponent"},
      {"[1 2]", "expected ',' or ']'"},
      {"tru", "invalid literal"},
      {"NaN", "expected a value"},
      {"[1] // c", "after the JSON value at byte 4"},
      {R"("\x")", "invalid escape"},
      {"\"a\x01\"", "control character in a string at byte 2"},
      {"\"\xff\"", "invalid UTF-8 in a string at byte 1"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},  // overlong '/'
      {R"("\udc00")", "lone low surrogate"},
      {R"("\ud83dx")", "high surrogate"},
      {R"("\u12g4")", "invalid hex digit"},
      {"\"abc", "unterminated string at byte 0"},
      {R"({"k":1,"j":2,"k":3})", "duplicate key \"k\" at byte 13"},
      {"1e400", "out of range"},
      {"{\"a\" 1}", "expected ':'"},
  };
  for (const auto& [text, part] : cases) {
    SCOPED_TRACE(text);
    EXPECT_ERROR(Json::parse(text), "JSON: ", part.c_str());
  }
  std::string deep;
  for (int k = 0; k < Json::kDefaultMaxDepth; ++k) deep += '[';
  for (int k = 0; k < Json::kDefaultMaxDepth; ++k) deep += ']';
  EXPECT_NO_THROW(Json::parse(deep));
  EXPECT_ERROR(Json::parse("[" + deep + "]"), "nesting deeper than 128 levels");
  EXPECT_ERROR(Json::parse("[[[1]]]", 2), "nesting deeper than 2 levels at byte 2");
}

TEST(Json, WritesAndRoundTrips) {
  Json j = Json::object({{"psnr", 31.2}, {"epoch", 3}, {"name", "val \"x\"\n"}, {"ok", true}, {"none", nullptr}});
  j["ssim"] = 0.91;
  j["whole"] = 3.0;
  j["nan"] = std::nan("");
  j["list"] = Json::array({1, 2.5, "a", Json::array(), Json::object()});
  j["ctl"] = std::string("\x01\x1f", 2);
  EXPECT_EQ(j.dump(),
            R"({"psnr":31.2,"epoch":3,"name":"val \"x\"\n","ok":true,"none":null,"ssim":0.91,)"
            R"("whole":3.0,"nan":null,"list":[1,2.5,"a",[],{}],"ctl":"\u0001\u001f"})");
  EXPECT_EQ(Json::object({{"a", Json::array({1, 2})}, {"b", Json::object()}}).dump(2),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
  Json k = j;
  k["nan"] = nullptr;  // NaN is written as null
  EXPECT_EQ(Json::parse(j.dump()), k);
  EXPECT_EQ(Json::parse(j.dump(4)), k);
  EXPECT_TRUE(Json::parse(j.dump()).at("whole").is_number());
  EXPECT_FALSE(Json::parse(j.dump()).at("whole").is_int());
  const int64_t big = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(Json::parse(Json(big).dump()).as_int(), big);
  EXPECT_EQ(Json::parse(Json(0.1).dump()).as_double(), 0.1);
  EXPECT_EQ(Json("\xff").dump(), "\"\xef\xbf\xbd\"");  // invalid UTF-8 is replaced
  Json arr;
  arr.push_back(1);
  arr.push_back("x");
  EXPECT_EQ(arr.dump(), R"([1,"x"])");
  EXPECT_ERROR(arr[2], "out of range");
}

// ---------------------------------------------------------------------------------------------
// normalisation

TEST(Normalize, MinMaxAndDivideByMax) {
  EXPECT_EQ(values(min_max(Tensor::from_vector(std::vector<float>{1, 2, 3, 5}, {2, 2}))),
            (std::vector<float>{0, 0.25f, 0.5f, 1}));
  EXPECT_EQ(values(min_max(Tensor::full({3}, 7.0))), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(values(min_max(Tensor::from_vector(std::vector<double>{-2, 0, 2}, {3}))),
            (std::vector<float>{0, 0.5f, 1}));
  EXPECT_EQ(values(divide_by_max(Tensor::from_vector(std::vector<float>{0, 2, 4}, {3}))),
            (std::vector<float>{0, 0.5f, 1}));
  EXPECT_EQ(values(divide_by_max(Tensor::zeros({2}))), (std::vector<float>{0, 0}));
  EXPECT_ERROR(divide_by_max(Tensor::full({2}, -1.0)), "must be positive");
}

TEST(Normalize, PercentilesMatchNumpy) {
  // x = np.array([3, 1, 4, 1, 5, 9, 2, 6], np.float32)
  // np.percentile(x, [0, 10, 25, 50, 90, 99.9, 100]) -> [1, 1, 1.75, 3.5, 6.9, 8.979, 9]
  const Tensor x = Tensor::from_vector(std::vector<float>{3, 1, 4, 1, 5, 9, 2, 6}, {2, 4});
  const double want[][2] = {{0, 1}, {10, 1}, {25, 1.75}, {50, 3.5}, {90, 6.9}, {99.9, 8.979}, {100, 9}};
  for (const auto& [p, v] : want) EXPECT_NEAR(percentile(x, p), v, 1e-9) << p;

  // csbdeep.utils.normalize(x, 0, 99.9) = (x - 1) / (8.979 - 1 + 1e-20): 9 -> 1.0026319...
  const std::vector<float> n = values(percentile_normalize(x));
  EXPECT_NEAR(n[5], 8 / 7.979, 1e-6);
  EXPECT_NEAR(n[0], 2 / 7.979, 1e-6);
  EXPECT_EQ(n[1], 0);
  // normalize(x, 25, 90): 1 -> (1 - 1.75) / 5.15 = -0.1456311; clip=True -> 0 and 1
  const std::vector<float> m = values(percentile_normalize(x, 25, 90));
  EXPECT_NEAR(m[1], -0.75 / 5.15, 1e-6);
  const std::vector<float> c = values(percentile_normalize(x, 25, 90, true));
  EXPECT_EQ(c[1], 0);
  EXPECT_EQ(c[5], 1);
  EXPECT_NEAR(c[0], 1.25 / 5.15, 1e-6);
  // A constant image gives zeros, not NaN.
  EXPECT_EQ(values(percentile_normalize(Tensor::full({4}, 3.0), 3, 99.8)), (std::vector<float>(4, 0)));
  EXPECT_ERROR(percentile_normalize(x, 50, 10), "p_low");
  EXPECT_ERROR(percentile(x, 101), "[0, 100]");
}

TEST(Normalize, CheckFiniteNamesTheElement) {
  Tensor t = Tensor::zeros({2, 3});
  EXPECT_NO_THROW(check_finite(t, "input"));
  t.data<float>()[5] = INFINITY;
  t.data<float>()[4] = std::nanf("");
  EXPECT_ERROR(check_finite(t, "low-res stack"), "low-res stack: non-finite value nan at index [1, 1]");
  EXPECT_ERROR(min_max(t), "min_max input", "[1, 1]");
  Tensor d = Tensor::zeros({3}, DType::f64);
  d.data<double>()[2] = -INFINITY;
  EXPECT_ERROR(check_finite(d, "w"), "-inf at index [2]");
}

// ---------------------------------------------------------------------------------------------
// PNG

namespace {
std::vector<uint8_t> read_png(const std::string& path, uint32_t format, uint32_t* w, uint32_t* h) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_file(&img, path.c_str())) << img.message;
  img.format = format;
  std::vector<uint8_t> px(PNG_IMAGE_SIZE(img));
  EXPECT_TRUE(png_image_finish_read(&img, nullptr, px.data(), 0, nullptr)) << img.message;
  *w = img.width;
  *h = img.height;
  return px;
}
}  // namespace

TEST_F(DataIo, PngGrayRgbAndPanels) {
  write_png_gray(file("g.png"), Tensor::from_vector(std::vector<float>{0, 0.5f, 1, 2, -1, 0.2f}, {2, 3}));
  uint32_t w = 0, h = 0;
  EXPECT_EQ(read_png(file("g.png"), PNG_FORMAT_GRAY, &w, &h), (std::vector<uint8_t>{0, 128, 255, 255, 0, 51}));
  EXPECT_EQ(w, 3u);
  EXPECT_EQ(h, 2u);

  const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7};
  write_png_rgb(file("c.png"), rgb, 2, 2);
  EXPECT_EQ(read_png(file("c.png"), PNG_FORMAT_RGB, &w, &h), rgb);
  EXPECT_ERROR(write_png_rgb(file("d.png"), rgb, 3, 2), "d.png", "needs H * W * 3");
  EXPECT_ERROR(write_png_gray(file("e.png"), Tensor::zeros({1, 2, 2})), "e.png", "(H, W)");
  EXPECT_ERROR(write_png_gray((dir_ / "nodir" / "f.png").string(), Tensor::zeros({2, 2})), "does not exist");

  // input (2x2) | SR (3x1), gap 1: (3, 2 + 1 + 1), fill below the shorter image and in the gap.
  const Tensor panel = hconcat_panel({Tensor::full({2, 2}, 0.25), Tensor::full({3, 1}, 0.5)}, 1, 1.0f);
  EXPECT_EQ(panel.shape(), Shape({3, 4}));
  EXPECT_EQ(values(panel), (std::vector<float>{0.25f, 0.25f, 1, 0.5f,  //
                                               0.25f, 0.25f, 1, 0.5f,  //
                                               1, 1, 1, 0.5f}));
  EXPECT_ERROR(hconcat_panel({Tensor::zeros({1, 2, 2})}, 0), "image 0 must be (H, W)");
  EXPECT_EQ(listing(), (std::vector<std::string>{"c.png", "g.png"}));
}
