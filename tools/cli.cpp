#include "tools/cli.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "graph/error.h"

namespace abbe::cli {
namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string shortest(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string range_text(const Parser::Option& o) {
  const bool has_lo = o.lo > -1e299, has_hi = o.hi < 1e299;
  auto num = [&](double v) {
    return o.kind == Parser::Option::Kind::integer ? std::to_string(int64_t(v)) : shortest(v);
  };
  if (has_lo && has_hi) return " in [" + num(o.lo) + ", " + num(o.hi) + "]";
  if (has_lo) return " >= " + num(o.lo);
  if (has_hi) return " <= " + num(o.hi);
  return "";
}

// Parses a whole string as an integer in the option's range.
int64_t parse_int(const Parser::Option& o, const std::string& v) {
  int64_t x = 0;
  const char* end = v.data() + v.size();
  auto [ptr, ec] = std::from_chars(v.data(), end, x);
  if (v.empty() || ec != std::errc() || ptr != end || double(x) < o.lo || double(x) > o.hi)
    throw UsageError("--" + o.name + ": expected an integer" + range_text(o) + ", got " + quote(v));
  return x;
}

double parse_real(const Parser::Option& o, const std::string& v) {
  char* end = nullptr;
  const double x = v.empty() ? NAN : std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x) || x < o.lo || x > o.hi)
    throw UsageError("--" + o.name + ": expected a number" + range_text(o) + ", got " + quote(v));
  return x;
}

}  // namespace

Parser::Parser(std::string command, std::string synopsis, std::string summary)
    : command_(std::move(command)), synopsis_(std::move(synopsis)), summary_(std::move(summary)) {}

Parser::Option& Parser::add(const std::string& name, std::string* out, const std::string& help) {
  Option& o = options_.emplace_back();
  o.name = name, o.help = help, o.metavar = "TEXT", o.default_text = out->empty() ? "" : *out;
  o.set = [out](const Option&, const std::string& v) { *out = v; };
  return o;
}

Parser::Option& Parser::add(const std::string& name, int64_t* out, const std::string& help) {
  Option& o = options_.emplace_back();
  o.name = name, o.help = help, o.metavar = "N", o.kind = Option::Kind::integer;
  o.default_text = std::to_string(*out);
  o.set = [out](const Option& opt, const std::string& v) { *out = parse_int(opt, v); };
  return o;
}

Parser::Option& Parser::add(const std::string& name, int* out, const std::string& help) {
  Option& o = options_.emplace_back();
  o.name = name, o.help = help, o.metavar = "N", o.kind = Option::Kind::integer;
  o.lo = -2147483648.0, o.hi = 2147483647.0;
  o.default_text = std::to_string(*out);
  o.set = [out](const Option& opt, const std::string& v) {
    *out = static_cast<int>(parse_int(opt, v));
  };
  return o;
}

Parser::Option& Parser::add(const std::string& name, uint64_t* out, const std::string& help) {
  Option& o = options_.emplace_back();
  o.name = name, o.help = help, o.metavar = "N", o.kind = Option::Kind::integer;
  o.default_text = std::to_string(*out);
  o.set = [out](const Option& opt, const std::string& v) {
    uint64_t x = 0;
    const char* end = v.data() + v.size();
    auto [ptr, ec] = std::from_chars(v.data(), end, x);
    if (v.empty() || ec != std::errc() || ptr != end)
      throw UsageError("--" + opt.name + ": expected a non-negative integer, got " + quote(v));
    *out = x;
  };
  return o;
}

Parser::Option& Parser::add(const std::string& name, double* out, const std::string& help) {
  Option& o = options_.emplace_back();
  o.name = name, o.help = help, o.metavar = "X", o.kind = Option::Kind::real;
  o.default_text = shortest(*out);
  o.set = [out](const Option& opt, const std::string& v) { *out = parse_real(opt, v); };
  return o;
}

Parser::Option& Parser::toggle(const std::string& name, bool* out, const std::string& help) {
  Option& o = options_.emplace_back();
  o.name = name, o.help = help, o.kind = Option::Kind::toggle;
  o.set = [out](const Option&, const std::string&) { *out = true; };
  return o;
}

void Parser::positional(const std::string& name, std::string* out, const std::string& help) {
  positionals_.push_back({name, help, out});
}

Parser::Option& Parser::find(const std::string& name) {
  for (Option& o : options_)
    if (o.name == name) return o;
  throw UsageError("unknown flag '--" + name + "'");
}

bool Parser::given(const std::string& name) const {
  for (const Option& o : options_)
    if (o.name == name) return o.given;
  return false;
}

void Parser::parse(const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (flags_done || a.size() < 2 || a[0] != '-' || (a[1] != '-' && a != "-h")) {
      if (a.size() >= 2 && a[0] == '-' && !flags_done &&
          !std::isdigit(static_cast<unsigned char>(a[1])))
        throw UsageError("unknown flag '" + a + "' (flags are --name)");
      pos.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    if (a == "--help" || a == "-h") throw HelpRequested{};
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    Option& o = find(name);
    if (o.given) throw UsageError("--" + name + " given twice");
    o.given = true;
    if (o.kind == Option::Kind::toggle) {
      if (eq != std::string::npos) throw UsageError("--" + name + " takes no value");
      o.set(o, "");
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else {
      if (i + 1 >= args.size())
        throw UsageError("--" + name + " needs a value (" + o.metavar + ")");
      value = args[++i];
    }
    o.set(o, value);
  }
  for (const Option& o : options_)
    if (o.is_required && !o.given) throw UsageError("--" + o.name + " is required");
  if (pos.size() != positionals_.size()) {
    std::string want;
    for (const auto& p : positionals_) want += " " + p.name;
    if (positionals_.empty()) throw UsageError("unexpected argument " + quote(pos.front()));
    throw UsageError("expected" + want + ", got " + std::to_string(pos.size()) + " argument" +
                     (pos.size() == 1 ? "" : "s"));
  }
  for (size_t i = 0; i < pos.size(); ++i) *positionals_[i].out = pos[i];
}

std::string Parser::help() const {
  std::ostringstream os;
  os << "usage: abbe " << command_ << " " << synopsis_ << "\n\n" << summary_ << "\n";
  if (!positionals_.empty()) {
    os << "\narguments:\n";
    for (const auto& p : positionals_) {
      std::string left = "  " + p.name;
      os << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << p.help << "\n";
    }
  }
  os << "\nflags:\n";
  for (const Option& o : options_) {
    std::string left = "  --" + o.name + (o.kind == Option::Kind::toggle ? "" : " " + o.metavar);
    os << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << o.help;
    if (o.is_required)
      os << " (required)";
    else if (!o.default_text.empty())
      os << " [default: " << o.default_text << "]";
    os << "\n";
  }
  os << "  --help                  show this help\n";
  if (!epilog_.empty()) os << "\n" << epilog_ << "\n";
  return os.str();
}

void add_device_flag(Parser& p, std::string* spec) {
  p.add("device", spec, "where to run: cpu, cuda or auto (a GPU when usable, else the CPU)");
}

Device resolve_device(const std::string& spec) {
  if (spec != "cpu" && spec != "auto" && spec != "cuda" && !spec.starts_with("cuda:"))
    throw UsageError("--device: unknown device '" + spec + "' (expected cpu, cuda or auto)");
  std::string note;
  const Device d = select_device(spec, &note);
  static bool noted = false;
  if (!note.empty() && !noted) std::fprintf(stderr, "%s\n", note.c_str()), noted = true;
  return d;
}

bool parse_or_help(Parser& parser, const std::vector<std::string>& args) {
  try {
    parser.parse(args);
    return true;
  } catch (const HelpRequested&) {
    std::fputs(parser.help().c_str(), stdout);
    return false;
  }
}

OutputGuard::~OutputGuard() {
  if (committed_) return;
  std::error_code ec;
  for (const std::string& f : files_) fs::remove(f, ec);
  for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it)
    if (fs::is_empty(*it, ec)) fs::remove(*it, ec);
}

void OutputGuard::make_dir(const std::string& dir) {
  // Record each level that does not exist yet, outermost first, so all can be removed.
  std::vector<fs::path> missing;
  for (fs::path p = fs::absolute(dir); !p.empty() && !fs::exists(p); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) ABBE_FAIL("cannot create directory '", dir, "': ", ec.message());
  for (auto it = missing.rbegin(); it != missing.rend(); ++it)
    created_dirs_.push_back(it->string());
  if (!fs::is_directory(dir)) ABBE_FAIL("'", dir, "' exists and is not a directory");
}

void check_writable(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) ABBE_FAIL(what, " '", path, "' is a directory; give a file name");
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec))
    ABBE_FAIL(what, " '", path, "': directory '", dir.string(), "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    ABBE_FAIL(what, " '", path, "': directory '", dir.string(), "' is not writable");
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    const int m = int(s / 60);
    std::snprintf(buf, sizeof buf, "%dm%02ds", m, int(s - 60 * m));
  } else {
    const int h = int(s / 3600);
    std::snprintf(buf, sizeof buf, "%dh%02dm", h, int((s - 3600 * h) / 60));
  }
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace abbe::cli
