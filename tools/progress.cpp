#include "tools/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "tools/cli.h"

namespace abbe::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBarWidth = 24;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// total <= 0: not known yet.
std::string total_text(int64_t total) { return total > 0 ? std::to_string(total) : "?"; }

std::string eta_text(int64_t done, int64_t total, double per_s) {
  if (per_s <= 0 || total <= 0 || done >= total) return "";
  const double s = double(total - done) / per_s;
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "ETA %d:%02d:%02d", int(s / 3600), int(s / 60) % 60,
                  int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "ETA %d:%02d", int(s / 60), int(s) % 60);
  return buf;
}

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, std::string unit, bool terminal)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      terminal_(terminal),
      last_line_(Clock::now()) {}

Progress::~Progress() { finish(); }

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

void Progress::clear_line() {
  if (terminal_ && drawn_) std::fputs("\r\x1b[K", stderr);
  drawn_ = false;
}

void Progress::update(int64_t done, int64_t total, double per_s, const std::string& text) {
  // "loss 0.0213  lr 1e-3  12.3 it/s  ETA 0:45", skipping empty parts.
  std::string tail;
  for (const std::string& part :
       {text, per_s > 0 ? fixed(per_s, per_s < 10 ? 2 : 1) + " " + unit_ + "/s" : std::string(),
        eta_text(done, total, per_s)})
    if (!part.empty()) tail += "  " + part;
  if (terminal_) {
    if (done < total && since(last_draw_) < 0.1) return;
    last_draw_ = Clock::now();
    const int filled =
        total > 0 ? int(kBarWidth * double(std::min(done, total)) / double(total)) : 0;
    std::string bar(size_t(filled), '#');
    bar.resize(kBarWidth, '.');
    char head[64];
    std::snprintf(head, sizeof head, " %lld/%s", (long long)done, total_text(total).c_str());
    bar_ = label_ + " [" + bar + "]" + head + tail;
    clear_line();
    std::fputs(bar_.c_str(), stderr);
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  // A line per tenth of the run, at least every 30 s, and at the end; never twice for a step.
  const int64_t decile = total > 0 ? 10 * done / total : 0;
  if (done == last_done_) return;
  const bool finished = total > 0 && done >= total;
  if (decile <= last_decile_ && !finished && since(last_line_) < 30) return;
  last_decile_ = std::max(decile, last_decile_), last_done_ = done;
  last_line_ = Clock::now();
  std::fprintf(stderr, "%s %lld/%s%s\n", label_.c_str(), (long long)done, total_text(total).c_str(),
               tail.c_str());
  std::fflush(stderr);
}

void Progress::note(const std::string& line) {
  const bool redraw = drawn_;
  clear_line();
  std::fprintf(stderr, "%s\n", line.c_str());
  if (redraw) {  // the bar goes back below the note
    std::fputs(bar_.c_str(), stderr);
    drawn_ = true;
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (terminal_ && drawn_) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
  drawn_ = false;
}

JsonLog::JsonLog(const std::string& path) : start_(Clock::now()) {
  if (path.empty()) return;
  file_ = std::fopen(path.c_str(), "w");
  if (!file_) ABBE_FAIL("cannot open log file '", path, "': ", std::strerror(errno));
}

JsonLog::~JsonLog() {
  if (file_) std::fclose(file_);
}

void JsonLog::write(io::Json event) {
  if (!file_) return;
  event["t"] = std::round(since(start_) * 1000) / 1000;
  const std::string line = event.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

train::TrainCallbacks train_callbacks(Progress& progress, JsonLog& log) {
  train::TrainCallbacks cb;
  cb.on_step = [&progress, &log](const train::StepReport& r) {
    progress.update(r.step, r.total, r.steps_per_s,
                    "loss " + fixed(r.loss, 4) + "  lr " + sci(r.lr));
    log.write(io::Json::object({{"event", "step"},
                                {"step", r.step},
                                {"total", r.total},
                                {"loss", r.loss},
                                {"lr", r.lr},
                                {"steps_per_s", r.steps_per_s}}));
  };
  cb.on_validation = [&progress, &log](const train::ValidationReport& r) {
    progress.note("  step " + std::to_string(r.step) + ": validation PSNR " + fixed(r.psnr, 2) +
                  " dB" + (r.improved ? " (best)" : " (best " + fixed(r.best_psnr, 2) + ")"));
    log.write(io::Json::object({{"event", "validation"},
                                {"step", r.step},
                                {"psnr", r.psnr},
                                {"best_psnr", r.best_psnr},
                                {"improved", r.improved}}));
  };
  cb.on_checkpoint = [&log](const std::string& path, int64_t step) {
    log.write(io::Json::object({{"event", "checkpoint"}, {"path", path}, {"step", step}}));
  };
  return cb;
}

}  // namespace abbe::cli
