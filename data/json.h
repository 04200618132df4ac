#pragma once
// Json: a small strict JSON value (RFC 8259), parser and serializer, for safetensors headers,
// metrics files and JSON-lines logs.
//
//   Json j = Json::object({{"epoch", 3}, {"psnr", 31.2}, {"tag", "val"}});
//   j["ssim"] = 0.91;                       // objects keep insertion order
//   std::string line = j.dump();            // {"epoch":3,"psnr":31.2,"tag":"val","ssim":0.91}
//   Json k = Json::parse(text);             // throws abbe::Error "JSON: ... at byte N"
//   double p = k.at("psnr").as_double();
//
// Numbers keep an exact int64 when the literal is an integer that fits (so byte offsets and
// shapes round-trip exactly); other numbers are doubles. The parser rejects what RFC 8259 rejects
// (comments, trailing commas, NaN, leading zeros, control characters and invalid UTF-8 in
// strings, lone surrogates), duplicate object keys, and nesting deeper than max_depth.
// dump() writes non-finite doubles as null (JSON has no NaN/Infinity).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace abbe::io {

class Json {
 public:
  enum class Type : uint8_t { null, boolean, number, string, array, object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // insertion order, unique keys

  static constexpr int kDefaultMaxDepth = 128;  // as serde_json

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::boolean) { v_.b = b; }
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Json(T i) : type_(Type::number) {
    if (std::is_unsigned_v<T> && static_cast<uint64_t>(i) > static_cast<uint64_t>(INT64_MAX)) {
      v_.d = static_cast<double>(i);
    } else {
      is_int_ = true;
      v_.i = static_cast<int64_t>(i);
    }
  }
  template <typename T>
    requires std::is_floating_point_v<T>
  Json(T d) : type_(Type::number) { v_.d = static_cast<double>(d); }
  Json(const char* s);
  Json(std::string_view s);
  Json(const std::string& s) : Json(std::string_view(s)) {}
  Json(std::string&& s);
  Json(Array a);
  Json(Object o);

  Json(const Json& o);
  Json(Json&& o) noexcept;
  Json& operator=(const Json& o);
  Json& operator=(Json&& o) noexcept;
  ~Json();

  static Json array(std::initializer_list<Json> items = {});
  // Later duplicates of a key replace earlier ones.
  static Json object(std::initializer_list<std::pair<std::string, Json>> members = {});

  // Throws abbe::Error "JSON: <problem> at byte <offset>" (offset counted from 0 in `text`).
  static Json parse(std::string_view text, int max_depth = kDefaultMaxDepth);

  // indent < 0: compact, one line (JSON lines). indent >= 0: one member per line, like
  // Python's json.dumps(indent=...).
  std::string dump(int indent = -1) const;

  Type type() const { return type_; }
  const char* type_name() const;
  bool is_null() const { return type_ == Type::null; }
  bool is_bool() const { return type_ == Type::boolean; }
  bool is_number() const { return type_ == Type::number; }
  bool is_int() const { return type_ == Type::number && is_int_; }  // an exact int64
  bool is_string() const { return type_ == Type::string; }
  bool is_array() const { return type_ == Type::array; }
  bool is_object() const { return type_ == Type::object; }

  // Typed access; throw abbe::Error naming the actual type on a mismatch.
  bool as_bool() const;
  double as_double() const;  // any number
  int64_t as_int() const;    // integers only (no 2.0)
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Arrays and objects: element count. Other types: 0.
  size_t size() const;
  const Json& at(size_t i) const;  // arrays; throws when out of range
  Json& operator[](size_t i);      // arrays; throws when out of range
  const Json& operator[](size_t i) const { return at(i); }
  void push_back(Json v);          // arrays (a null becomes an empty array)

  // Objects. find() returns nullptr for a missing key; at() throws naming the key; operator[]
  // inserts null for a missing key (a null becomes an empty object). Lookup is linear.
  const Json* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Json& at(std::string_view key) const;
  Json& operator[](std::string_view key);

  bool operator==(const Json& o) const;

 private:
  void destroy();
  void copy_from(const Json& o);

  Type type_ = Type::null;
  bool is_int_ = false;
  // 16 bytes per value: a large array of numbers costs little more than its text.
  union {
    bool b;
    int64_t i;
    double d;
    std::string* s;
    Array* a;
    Object* o;
  } v_{};
};

// Appends s as a quoted JSON string (escapes ", \, control characters; invalid UTF-8 -> U+FFFD).
void json_escape(std::string& out, std::string_view s);

}  // namespace abbe::io
