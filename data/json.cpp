#include "data/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "graph/error.h"

namespace abbe::io {

// ---- value ----

Json::Json(const char* s) : Json(std::string_view(s ? s : "")) {}
Json::Json(std::string_view s) : type_(Type::string) { v_.s = new std::string(s); }
Json::Json(std::string&& s) : type_(Type::string) { v_.s = new std::string(std::move(s)); }
Json::Json(Array a) : type_(Type::array) { v_.a = new Array(std::move(a)); }
Json::Json(Object o) : type_(Type::object) { v_.o = new Object(std::move(o)); }

void Json::destroy() {
  if (type_ == Type::string) delete v_.s;
  if (type_ == Type::array) delete v_.a;
  if (type_ == Type::object) delete v_.o;
  type_ = Type::null;
  is_int_ = false;
  v_.i = 0;
}

void Json::copy_from(const Json& o) {
  type_ = o.type_;
  is_int_ = o.is_int_;
  switch (o.type_) {
    case Type::string: v_.s = new std::string(*o.v_.s); break;
    case Type::array: v_.a = new Array(*o.v_.a); break;
    case Type::object: v_.o = new Object(*o.v_.o); break;
    default: v_ = o.v_;
  }
}

Json::Json(const Json& o) { copy_from(o); }
Json::Json(Json&& o) noexcept : type_(o.type_), is_int_(o.is_int_), v_(o.v_) {
  o.type_ = Type::null;
  o.is_int_ = false;
}
Json& Json::operator=(const Json& o) {
  if (this != &o) {
    Json tmp(o);  // copy first: o may live inside *this
    *this = std::move(tmp);
  }
  return *this;
}
Json& Json::operator=(Json&& o) noexcept {
  if (this != &o) {
    Json old(std::move(*this));  // freed after the move, in case o lives inside *this
    type_ = o.type_;
    is_int_ = o.is_int_;
    v_ = o.v_;
    o.type_ = Type::null;
    o.is_int_ = false;
  }
  return *this;
}
Json::~Json() { destroy(); }

Json Json::array(std::initializer_list<Json> items) { return Json(Array(items)); }
Json Json::object(std::initializer_list<std::pair<std::string, Json>> members) {
  Json j{Object{}};
  for (const auto& [k, v] : members) j[k] = v;
  return j;
}

const char* Json::type_name() const {
  switch (type_) {
    case Type::null: return "null";
    case Type::boolean: return "a boolean";
    case Type::number: return "a number";
    case Type::string: return "a string";
    case Type::array: return "an array";
    case Type::object: return "an object";
  }
  return "?";
}

#define ABBE_JSON_EXPECT(cond, expected) \
  ABBE_CHECK(cond, "JSON: expected " expected ", got ", type_name())

bool Json::as_bool() const {
  ABBE_JSON_EXPECT(is_bool(), "a boolean");
  return v_.b;
}
double Json::as_double() const {
  ABBE_JSON_EXPECT(is_number(), "a number");
  return is_int_ ? static_cast<double>(v_.i) : v_.d;
}
int64_t Json::as_int() const {
  ABBE_CHECK(is_int(), "JSON: expected an integer, got ",
             is_number() ? "a non-integer number" : type_name());
  return v_.i;
}
const std::string& Json::as_string() const {
  ABBE_JSON_EXPECT(is_string(), "a string");
  return *v_.s;
}
const Json::Array& Json::as_array() const {
  ABBE_JSON_EXPECT(is_array(), "an array");
  return *v_.a;
}
Json::Array& Json::as_array() {
  ABBE_JSON_EXPECT(is_array(), "an array");
  return *v_.a;
}
const Json::Object& Json::as_object() const {
  ABBE_JSON_EXPECT(is_object(), "an object");
  return *v_.o;
}
Json::Object& Json::as_object() {
  ABBE_JSON_EXPECT(is_object(), "an object");
  return *v_.o;
}

size_t Json::size() const {
  if (is_array()) return v_.a->size();
  if (is_object()) return v_.o->size();
  return 0;
}
const Json& Json::at(size_t i) const {
  const Array& a = as_array();
  ABBE_CHECK(i < a.size(), "JSON: index ", i, " out of range for an array of ", a.size());
  return a[i];
}
Json& Json::operator[](size_t i) {
  Array& a = as_array();
  ABBE_CHECK(i < a.size(), "JSON: index ", i, " out of range for an array of ", a.size());
  return a[i];
}
void Json::push_back(Json v) {
  if (is_null()) *this = Json(Array{});
  as_array().push_back(std::move(v));
}

const Json* Json::find(std::string_view key) const {
  for (const auto& [k, v] : as_object())
    if (k == key) return &v;
  return nullptr;
}
const Json& Json::at(std::string_view key) const {
  const Json* v = find(key);
  ABBE_CHECK(v != nullptr, "JSON: missing key \"", key, "\"");
  return *v;
}
Json& Json::operator[](std::string_view key) {
  if (is_null()) *this = Json(Object{});
  Object& o = as_object();
  for (auto& [k, v] : o)
    if (k == key) return v;
  o.emplace_back(std::string(key), Json());
  return o.back().second;
}

bool Json::operator==(const Json& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::null: return true;
    case Type::boolean: return v_.b == o.v_.b;
    case Type::number:
      return is_int_ && o.is_int_ ? v_.i == o.v_.i : as_double() == o.as_double();
    case Type::string: return *v_.s == *o.v_.s;
    case Type::array: return *v_.a == *o.v_.a;
    case Type::object: return *v_.o == *o.v_.o;
  }
  return false;
}

// ---- UTF-8 ----

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---- parser ----

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : t_(text), max_depth_(max_depth) {}

  Json parse_document() {
    skip_ws();
    Json v = value(0);
    skip_ws();
    if (pos_ != t_.size()) fail("unexpected " + describe(pos_) + " after the JSON value", pos_);
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    ABBE_FAIL("JSON: ", what, " at byte ", at);
  }

  std::string describe(size_t at) const {
    if (at >= t_.size()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(t_[at]);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    static const char* hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
  }

  void skip_ws() {
    while (pos_ < t_.size() &&
           (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r'))
      ++pos_;
  }

  void expect_literal(std::string_view lit) {
    if (t_.substr(pos_, lit.size()) != lit)
      fail("invalid literal (expected " + std::string(lit) + ")", pos_);
    pos_ += lit.size();
  }

  Json value(int depth) {
    if (pos_ >= t_.size()) fail("unexpected end of input, expected a value", pos_);
    switch (t_[pos_]) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return Json(string());
      case 't': expect_literal("true"); return Json(true);
      case 'f': expect_literal("false"); return Json(false);
      case 'n': expect_literal("null"); return Json();
      default:
        if (t_[pos_] == '-' || (t_[pos_] >= '0' && t_[pos_] <= '9')) return number();
        fail("unexpected " + describe(pos_) + ", expected a value", pos_);
    }
  }

  void enter(int depth) const {
    if (depth > max_depth_)
      fail("nesting deeper than " + std::to_string(max_depth_) + " levels", pos_);
  }

  Json array(int depth) {
    enter(depth);
    ++pos_;  // '['
    Json::Array items;
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == ']') {
      ++pos_;
      return Json(std::move(items));
    }
    for (;;) {
      skip_ws();
      items.push_back(value(depth));
      skip_ws();
      if (pos_ < t_.size() && t_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < t_.size() && t_[pos_] == ']') {
        ++pos_;
        return Json(std::move(items));
      }
      fail("expected ',' or ']' in an array, found " + describe(pos_), pos_);
    }
  }

  Json object(int depth) {
    enter(depth);
    ++pos_;  // '{'
    Json::Object members;
    std::vector<size_t> key_pos;
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == '}') {
      ++pos_;
      return Json(std::move(members));
    }
    for (;;) {
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != '"')
        fail("expected a string key in an object, found " + describe(pos_), pos_);
      key_pos.push_back(pos_);
      std::string key = string();
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != ':')
        fail("expected ':' after an object key, found " + describe(pos_), pos_);
      ++pos_;
      skip_ws();
      members.emplace_back(std::move(key), value(depth));
      skip_ws();
      if (pos_ < t_.size() && t_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < t_.size() && t_[pos_] == '}') {
        ++pos_;
        check_unique(members, key_pos);
        return Json(std::move(members));
      }
      fail("expected ',' or '}' in an object, found " + describe(pos_), pos_);
    }
  }

  // Sorting indices keeps this O(n log n) for hostile objects with millions of keys.
  void check_unique(const Json::Object& m, const std::vector<size_t>& key_pos) const {
    std::vector<size_t> idx(m.size());
    std::iota(idx.begin(), idx.end(), size_t{0});
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return m[a].first != m[b].first ? m[a].first < m[b].first : a < b;
    });
    for (size_t k = 1; k < idx.size(); ++k)
      if (m[idx[k]].first == m[idx[k - 1]].first)
        fail("duplicate key \"" + m[idx[k]].first + "\"", key_pos[idx[k]]);
  }

  uint32_t hex4(size_t at) const {
    if (at + 4 > t_.size()) fail("truncated \\u escape", at);
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = t_[at + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("invalid hex digit in \\u escape", at + k);
    }
    return v;
  }

  std::string string() {
    const size_t start = pos_++;  // '"'
    std::string out;
    for (;;) {
      if (pos_ >= t_.size()) fail("unterminated string", start);
      const unsigned char c = static_cast<unsigned char>(t_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in a string", pos_);
      if (c >= 0x80) {
        const size_t n = utf8_length(t_, pos_);
        if (n == 0) fail("invalid UTF-8 in a string", pos_);
        out.append(t_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      const size_t esc = pos_;
      if (++pos_ >= t_.size()) fail("unterminated string", start);
      switch (t_[pos_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4(pos_);
          pos_ += 4;
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape", esc);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (t_.substr(pos_, 2) != "\\u") fail("high surrogate not followed by \\u", esc);
            const uint32_t lo = hex4(pos_ + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low one", esc);
            pos_ += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("invalid escape \\" + describe(pos_ - 1), esc);
      }
    }
  }

  Json number() {
    const size_t start = pos_;
    const auto digit = [&](size_t k) { return k < t_.size() && t_[k] >= '0' && t_[k] <= '9'; };
    if (t_[pos_] == '-') ++pos_;
    if (!digit(pos_)) fail("expected a digit after '-'", pos_);
    const size_t int_begin = pos_;
    if (t_[pos_] == '0') {
      ++pos_;
      if (digit(pos_)) fail("leading zero in a number", start);
    } else {
      while (digit(pos_)) ++pos_;
    }
    const size_t int_end = pos_;
    bool integral = true;
    size_t frac_begin = pos_;
    if (pos_ < t_.size() && t_[pos_] == '.') {
      integral = false;
      frac_begin = ++pos_;
      if (!digit(pos_)) fail("expected a digit after '.'", pos_);
      while (digit(pos_)) ++pos_;
    }
    int64_t exp = 0;
    if (pos_ < t_.size() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      bool neg = false;
      if (pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-')) neg = t_[pos_++] == '-';
      if (!digit(pos_)) fail("expected a digit in an exponent", pos_);
      while (digit(pos_)) exp = std::min<int64_t>(exp * 10 + (t_[pos_++] - '0'), 1'000'000);
      if (neg) exp = -exp;
    }
    const char* b = t_.data() + start;
    const char* e = t_.data() + pos_;
    if (integral) {
      int64_t i = 0;
      auto r = std::from_chars(b, e, i);
      if (r.ec == std::errc() && r.ptr == e) return Json(i);
      // Too large for int64: fall through to double.
    }
    double d = 0;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Underflow becomes (signed) zero as in Python and serde_json; overflow is an error.
      // The magnitude is the decimal exponent of the first non-zero digit.
      int64_t mag;
      const size_t nz = t_.find_first_not_of('0', int_begin);
      if (nz < int_end) {
        mag = static_cast<int64_t>(int_end - nz) - 1 + exp;
      } else {
        const size_t fnz = t_.find_first_not_of('0', frac_begin);
        mag = -static_cast<int64_t>(fnz - frac_begin) - 1 + exp;
      }
      if (mag < 0) return Json(t_[start] == '-' ? -0.0 : 0.0);
      fail("number out of range", start);
    }
    if (r.ec != std::errc() || r.ptr != e) fail("invalid number", start);
    return Json(d);
  }

  std::string_view t_;
  int max_depth_;
  size_t pos_ = 0;
};

// ---- writer ----

void dump_number(std::string& out, const Json& j) {
  char buf[40];
  if (j.is_int()) {
    auto r = std::to_chars(buf, buf + sizeof buf, j.as_int());
    out.append(buf, r.ptr);
    return;
  }
  const double d = j.as_double();
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  const std::string_view s(buf, r.ptr - buf);
  out += s;
  // Keep "3.0" a float when read back (and in Python): to_chars writes "3".
  if (s.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void newline(std::string& out, int indent, int level) {
  out += '\n';
  out.append(static_cast<size_t>(indent) * level, ' ');
}

void dump_value(std::string& out, const Json& j, int indent, int level) {
  switch (j.type()) {
    case Json::Type::null: out += "null"; return;
    case Json::Type::boolean: out += j.as_bool() ? "true" : "false"; return;
    case Json::Type::number: dump_number(out, j); return;
    case Json::Type::string: json_escape(out, j.as_string()); return;
    case Json::Type::array: {
      const auto& a = j.as_array();
      out += '[';
      for (size_t k = 0; k < a.size(); ++k) {
        if (k) out += ',';
        if (indent >= 0) newline(out, indent, level + 1);
        dump_value(out, a[k], indent, level + 1);
      }
      if (indent >= 0 && !a.empty()) newline(out, indent, level);
      out += ']';
      return;
    }
    case Json::Type::object: {
      const auto& o = j.as_object();
      out += '{';
      for (size_t k = 0; k < o.size(); ++k) {
        if (k) out += ',';
        if (indent >= 0) newline(out, indent, level + 1);
        json_escape(out, o[k].first);
        out += indent >= 0 ? ": " : ":";
        dump_value(out, o[k].second, indent, level + 1);
      }
      if (indent >= 0 && !o.empty()) newline(out, indent, level);
      out += '}';
      return;
    }
  }
}

}  // namespace

Json Json::parse(std::string_view text, int max_depth) {
  return Parser(text, max_depth).parse_document();
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_value(out, *this, indent, 0);
  return out;
}

void json_escape(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD: the output must stay valid UTF-8
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace abbe::io
