#pragma once
// The command line's own small pieces: a flag parser, the output guard that keeps a failed
// command from leaving files behind, and formatting helpers. Only tools/ uses these.
//
//   cli::Parser p("train", "--lr-stack LR.tif --gt-stack GT.tif --out CKPT [flags]",
//                 "Train a net on a pair of TIFF stacks.");
//   p.add("steps", &steps, "optimiser steps").range(1, 1e9);
//   p.add("lr-stack", &lr_path, "LR input stack (n,h,w)").metavar("FILE").required();
//   p.toggle("raw", &raw, "no normalisation");
//   p.positional("IN.tif", &in, "input stack");
//   p.parse(args);      // throws UsageError (exit 2) or HelpRequested (print p.help(), exit 0)
//
// Flags are "--name value" or "--name=value"; "--" ends the flags. The help lists every flag
// with its default (the variable's value when it was registered).
#include <cstdint>
#include <deque>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/device.h"

namespace abbe::cli {

// Bad usage: an unknown flag, a missing or malformed value. The message names the flag.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct HelpRequested {};

class Parser {
 public:
  struct Option {
    std::string name, metavar, help, default_text;
    enum class Kind { string, integer, real, toggle } kind = Kind::string;
    double lo = -1e300, hi = 1e300;
    bool is_required = false, given = false;
    std::function<void(const Option&, const std::string&)> set;

    Option& range(double low, double high) {
      lo = low, hi = high;
      return *this;
    }
    Option& required() {
      is_required = true;
      return *this;
    }
    Option& meta(std::string m) {
      metavar = std::move(m);
      return *this;
    }
    // What --help shows as the default, when the variable's initial value would mislead.
    Option& shown_default(std::string d) {
      default_text = std::move(d);
      return *this;
    }
  };

  Parser(std::string command, std::string synopsis, std::string summary);

  Option& add(const std::string& name, std::string* out, const std::string& help);
  Option& add(const std::string& name, int64_t* out, const std::string& help);
  Option& add(const std::string& name, int* out, const std::string& help);
  Option& add(const std::string& name, uint64_t* out, const std::string& help);
  Option& add(const std::string& name, double* out, const std::string& help);
  Option& toggle(const std::string& name, bool* out, const std::string& help);
  // Positional arguments, in order; all are required.
  void positional(const std::string& name, std::string* out, const std::string& help);
  // A paragraph printed after the flags in --help.
  void epilog(std::string text) { epilog_ = std::move(text); }

  void parse(const std::vector<std::string>& args);
  bool given(const std::string& name) const;
  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  Option& find(const std::string& name);

  std::string command_, synopsis_, summary_, epilog_;
  std::deque<Option> options_;  // deque: references returned by add() stay valid
  struct Positional {
    std::string name, help;
    std::string* out;
  };
  std::vector<Positional> positionals_;
};

// Parses args; on --help prints the help to stdout and returns false (the command then exits 0).
bool parse_or_help(Parser& parser, const std::vector<std::string>& args);

// Files a command writes. Each is registered before it is written; unless commit() is called,
// the destructor removes them (a failed command leaves none of its outputs behind), and a
// directory the command created is removed too if it is left empty.
class OutputGuard {
 public:
  OutputGuard() = default;
  OutputGuard(const OutputGuard&) = delete;
  OutputGuard& operator=(const OutputGuard&) = delete;
  ~OutputGuard();
  void add(const std::string& path) { files_.push_back(path); }
  // Creates dir (and parents) if needed; one that did not exist is removed on failure if empty.
  void make_dir(const std::string& dir);
  void commit() { committed_ = true; }

 private:
  std::vector<std::string> files_, created_dirs_;
  bool committed_ = false;
};

// Throws abbe::Error unless `path` can be created: its directory exists and is writable, and it
// is not a directory itself. Checked before long work, so a typo fails in a second, not after
// an hour of training.
void check_writable(const std::string& path, const std::string& what);

// --device: registers the flag ("auto" by default) on `p`, writing the spec to *spec.
void add_device_flag(Parser& p, std::string* spec);
// The device the spec names (graph/device.h's select_device). An unknown spec is a UsageError;
// cuda without a usable GPU throws abbe::Error naming the driver status; auto falling back to the
// CPU says so on stderr, once per process.
Device resolve_device(const std::string& spec);

// "3m07s", "1h02m", "12.4s".
std::string format_duration(double seconds);
// Fixed-point with `digits` decimals.
std::string fixed(double v, int digits);

}  // namespace abbe::cli
