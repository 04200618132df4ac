#pragma once
// What long commands show while they run, and what they record:
//   Progress  on a terminal (stderr is a tty): one bar redrawn in place, at most 10 times a
//             second — "train [#####.....] 450/1000 loss 0.0213 lr 8.1e-04 12.3 it/s ETA 0:45";
//             otherwise (a pipe, a log file, CI): a plain line every 10% of the run or 30 s.
//   JsonLog   --log FILE: one JSON object per line and event ({"event": "step", ...}), each with
//             "t" (seconds since the command started), flushed as written so a crashed or
//             killed run still leaves its log.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "data/json.h"
#include "train/sisr_trainer.h"

namespace abbe::cli {

class Progress {
 public:
  // label: "train", "infer"; unit: "it" or "frames".
  Progress(std::string label, std::string unit, bool terminal);
  ~Progress();
  // A step of the run: done of total, with the trailing text ("loss 0.0213 lr 1e-3").
  void update(int64_t done, int64_t total, double per_s, const std::string& text);
  // A line of its own (validation results...), printed above the bar.
  void note(const std::string& line);
  // Ends the bar's line.
  void finish();
  static bool stderr_is_terminal();

 private:
  void clear_line();
  std::string label_, unit_, bar_;  // bar_: the last bar drawn
  bool terminal_, drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{}, last_line_{};
  int64_t last_decile_ = -1, last_done_ = -1;
};

class JsonLog {
 public:
  // path "": disabled. Otherwise truncates/creates the file; throws abbe::Error if it cannot.
  explicit JsonLog(const std::string& path);
  ~JsonLog();
  JsonLog(const JsonLog&) = delete;
  JsonLog& operator=(const JsonLog&) = delete;
  bool enabled() const { return file_ != nullptr; }
  // Adds "t" and writes the event as one line.
  void write(io::Json event);

 private:
  FILE* file_ = nullptr;
  std::chrono::steady_clock::time_point start_;
};

// Callbacks that drive a Progress bar and a JsonLog from the trainer's reports.
train::TrainCallbacks train_callbacks(Progress& progress, JsonLog& log);

}  // namespace abbe::cli
