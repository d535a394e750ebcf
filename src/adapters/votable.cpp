#include "adapters/votable.hpp"

#include <expat.h>

#include <array>
#include <atomic>
#include <bit>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

namespace beampipe::adapters {

namespace json = boost::json;

namespace {

using kind = votable_error::kind;

[[noreturn]] void fail(kind k, std::string message) { throw votable_error(k, message); }

std::string_view local_name(const XML_Char* name) {
  // TD and TR are most of a TABLEDATA document: skip strlen and the prefix search for them.
  if (name[0] == 'T' && (name[1] == 'D' || name[1] == 'R') && name[2] == '\0') return {name, 2};
  std::string_view n(name);
  auto colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

const char* attribute(const XML_Char** attrs, std::string_view wanted) {
  for (auto a = attrs; *a; a += 2) {
    if (local_name(a[0]) == wanted) return a[1];
  }
  return nullptr;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

enum class vtype : std::uint8_t {
  boolean,
  bit,
  ubyte,
  short_,
  int_,
  long_,
  char_,
  uchar,
  float_,
  double_,
  fcomplex,
  dcomplex
};

struct codec {
  vtype type = vtype::char_;
  std::size_t elem_bytes = 1;  // BINARY bytes per element (bit: handled apart)
  bool scalar = true;
  bool variable = false;        // last dimension is '*' (BINARY count prefix)
  std::size_t fixed_count = 1;  // elements per item of the last dimension (product of the others)
  std::size_t last_dim = 1;     // fixed size of the last dimension (when not variable)
  bool is_string = false;       // char / unicodeChar
  bool string_array = false;    // char with two or more dimensions: an array of strings
  std::optional<std::int64_t> int_null;
  std::optional<double> float_null;
};

codec make_codec(const votable_field& f, const votable_limits& limits) {
  codec c;
  const auto& d = f.datatype;
  if (d == "boolean")
    c.type = vtype::boolean, c.elem_bytes = 1;
  else if (d == "bit")
    c.type = vtype::bit, c.elem_bytes = 1;
  else if (d == "unsignedByte")
    c.type = vtype::ubyte, c.elem_bytes = 1;
  else if (d == "short")
    c.type = vtype::short_, c.elem_bytes = 2;
  else if (d == "int")
    c.type = vtype::int_, c.elem_bytes = 4;
  else if (d == "long")
    c.type = vtype::long_, c.elem_bytes = 8;
  else if (d == "char")
    c.type = vtype::char_, c.elem_bytes = 1;
  else if (d == "unicodeChar")
    c.type = vtype::uchar, c.elem_bytes = 2;
  else if (d == "float")
    c.type = vtype::float_, c.elem_bytes = 4;
  else if (d == "double")
    c.type = vtype::double_, c.elem_bytes = 8;
  else if (d == "floatComplex")
    c.type = vtype::fcomplex, c.elem_bytes = 8;
  else if (d == "doubleComplex")
    c.type = vtype::dcomplex, c.elem_bytes = 16;
  else
    fail(kind::malformed, "FIELD '" + f.name + "' has unknown datatype '" + d + "'");
  c.is_string = c.type == vtype::char_ || c.type == vtype::uchar;

  std::string_view as = trim(f.arraysize);
  // arraysize="1" is a scalar for numbers; for char it is a one-character string either way.
  if (as.empty() || (as == "1" && !c.is_string)) return c;
  c.scalar = false;
  std::vector<std::string_view> dims;
  while (true) {
    auto x = as.find('x');
    dims.push_back(as.substr(0, x));
    if (x == std::string_view::npos) break;
    as.remove_prefix(x + 1);
  }
  std::size_t product = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    auto dim = dims[i];
    bool star = !dim.empty() && dim.back() == '*';
    if (star) dim.remove_suffix(1);
    if (star && i + 1 != dims.size()) {
      fail(kind::malformed,
           "FIELD '" + f.name + "': only the last dimension of arraysize may be '*'");
    }
    std::size_t n = 0;
    if (!dim.empty()) {
      auto [p, ec] = std::from_chars(dim.data(), dim.data() + dim.size(), n);
      if (ec != std::errc{} || p != dim.data() + dim.size() || n == 0) {
        fail(kind::malformed, "FIELD '" + f.name + "' has bad arraysize '" + f.arraysize + "'");
      }
    } else if (!star) {
      fail(kind::malformed, "FIELD '" + f.name + "' has bad arraysize '" + f.arraysize + "'");
    }
    if (i + 1 == dims.size()) {
      c.variable = star;
      c.last_dim = star ? 0 : n;
    } else {
      if (n > limits.max_cell_bytes || product > limits.max_cell_bytes / n) {
        fail(kind::limit,
             "FIELD '" + f.name + "' arraysize '" + f.arraysize + "' exceeds the cell limit");
      }
      product *= n;
    }
  }
  if (!c.variable &&
      (c.last_dim > limits.max_cell_bytes || product > limits.max_cell_bytes / c.last_dim)) {
    fail(kind::limit,
         "FIELD '" + f.name + "' arraysize '" + f.arraysize + "' exceeds the cell limit");
  }
  c.fixed_count = product;
  c.string_array = c.is_string && dims.size() >= 2;
  return c;
}

// ---------------------------------------------------------------- TABLEDATA text → value

std::optional<std::int64_t> parse_integer(std::string_view s, vtype t) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    std::uint64_t u = 0;
    auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), u, 16);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    // Hex literals are bit patterns of the column's width.
    switch (t) {
      case vtype::short_:
        return static_cast<std::int16_t>(static_cast<std::uint16_t>(u));
      case vtype::int_:
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(u));
      case vtype::ubyte:
        return static_cast<std::uint8_t>(u);
      default:
        return static_cast<std::int64_t>(u);
    }
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_real(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (p != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {  // over/underflow: keep the limit's sign
    bool neg = s.front() == '-';
    bool tiny =
        s.find_first_of("eE") != std::string_view::npos && s.find("e-") != std::string_view::npos;
    return tiny ? (neg ? -0.0 : 0.0)
                : (neg ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity());
  }
  if (ec != std::errc{}) return std::nullopt;
  return v;
}

// Text after a complex pair or a float column; NaN is null.
bool real_is_null(double v, const codec& c) {
  return std::isnan(v) || (c.float_null && v == *c.float_null);
}

class text_decoder {
 public:
  text_decoder(const votable_field& f, const codec& c) : f_(f), c_(c) {}

  json::value scalar(std::string_view s) const {
    switch (c_.type) {
      case vtype::boolean:
        return boolean(trim(s));
      case vtype::bit: {
        auto t = trim(s);
        if (t.empty()) return nullptr;
        if (t == "1") return true;
        if (t == "0") return false;
        bad(s);
      }
      case vtype::ubyte:
      case vtype::short_:
      case vtype::int_:
      case vtype::long_: {
        if (trim(s).empty()) return nullptr;
        auto v = parse_integer(s, c_.type);
        if (!v) bad(s);
        if (c_.int_null && *v == *c_.int_null) return nullptr;
        return *v;
      }
      case vtype::float_:
      case vtype::double_: {
        if (trim(s).empty()) return nullptr;
        auto v = parse_real(s);
        if (!v) bad(s);
        if (c_.type == vtype::float_) v = static_cast<double>(static_cast<float>(*v));
        if (real_is_null(*v, c_)) return nullptr;
        return *v;
      }
      case vtype::fcomplex:
      case vtype::dcomplex: {
        double re = 0, im = 0;
        std::size_t n = 0;
        for_each_token(s, [&](std::string_view tok) {
          auto v = parse_real(tok);
          if (!v || n >= 2) bad(s);
          (n++ == 0 ? re : im) = *v;
        });
        if (n == 0) return nullptr;
        if (n != 2) bad(s);
        return complex(re, im);
      }
      case vtype::char_:
      case vtype::uchar:
        break;
    }
    return s.empty() ? json::value(nullptr) : json::value(json::string_view(s.data(), s.size()));
  }

  // Writes the cell straight into its slot: no temporary value for the common scalars.
  void fill(std::string_view s, json::value& slot) const {
    if (c_.is_string && !c_.string_array) {
      if (!s.empty()) slot.emplace_string().assign(json::string_view(s.data(), s.size()));
      return;
    }
    if (c_.scalar) {
      switch (c_.type) {
        case vtype::short_:
        case vtype::int_:
        case vtype::long_:
        case vtype::ubyte: {
          if (trim(s).empty()) return;
          auto v = parse_integer(s, c_.type);
          if (!v) bad(s);
          if (!(c_.int_null && *v == *c_.int_null)) slot.emplace_int64() = *v;
          return;
        }
        case vtype::double_:
        case vtype::float_: {
          if (trim(s).empty()) return;
          auto v = parse_real(s);
          if (!v) bad(s);
          if (c_.type == vtype::float_) v = static_cast<double>(static_cast<float>(*v));
          if (!real_is_null(*v, c_)) slot.emplace_double() = *v;
          return;
        }
        case vtype::boolean: {
          auto t = trim(s);
          if (t.size() == 1 && (t[0] == 'T' || t[0] == 'F')) {
            slot.emplace_bool() = t[0] == 'T';
            return;
          }
          break;
        }
        default:
          break;
      }
    }
    slot = cell(s);
  }

  json::value cell(std::string_view s) const {
    if (c_.scalar || (c_.is_string && !c_.string_array)) return scalar(s);
    if (c_.is_string) {  // array of fixed-length strings
      if (s.empty()) return nullptr;
      std::size_t len = c_.fixed_count;
      json::array out;
      for (std::size_t i = 0; i < s.size(); i += len)
        out.emplace_back(json::string_view(s.substr(i, len)));
      return out;
    }
    json::array out;
    if (c_.type == vtype::bit) {
      for (char ch : s) {
        if (is_space(ch)) continue;
        if (ch != '0' && ch != '1') bad(s);
        out.emplace_back(ch == '1');
      }
    } else if (c_.type == vtype::fcomplex || c_.type == vtype::dcomplex) {
      double re = 0;
      bool have_re = false;
      for_each_token(s, [&](std::string_view tok) {
        auto v = parse_real(tok);
        if (!v) bad(s);
        if (!have_re) {
          re = *v;
          have_re = true;
          return;
        }
        out.push_back(complex(re, *v));
        have_re = false;
      });
      if (have_re) bad(s);
    } else {
      for_each_token(s, [&](std::string_view tok) { out.push_back(scalar(tok)); });
    }
    if (out.empty()) return nullptr;
    return out;
  }

 private:
  json::value complex(double re, double im) const {
    if (c_.type == vtype::fcomplex) {
      re = static_cast<float>(re);
      im = static_cast<float>(im);
    }
    if (std::isnan(re) || std::isnan(im)) return nullptr;
    return json::array{re, im};
  }

  json::value boolean(std::string_view t) const {
    if (t.empty() || t == "?") return nullptr;
    if (t == "T" || t == "t" || t == "1" || iequals(t, "true")) return true;
    if (t == "F" || t == "f" || t == "0" || iequals(t, "false")) return false;
    bad(t);
  }

  template <class F>
  static void for_each_token(std::string_view s, F&& f) {
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_space(s[i])) ++i;
      std::size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      if (j > i) f(s.substr(i, j - i));
      i = j;
    }
  }

  [[noreturn]] void bad(std::string_view s) const {
    std::string shown(s.substr(0, 60));
    fail(kind::malformed,
         "FIELD '" + f_.name + "' (" + f_.datatype + "): cannot read '" + shown + "'");
  }

  const votable_field& f_;
  const codec& c_;
};

// ---------------------------------------------------------------- BINARY / BINARY2

class byte_reader {
 public:
  explicit byte_reader(std::string_view bytes)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(p_ + bytes.size()) {}
  bool done() const { return p_ == end_; }
  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
  const unsigned char* take(std::size_t n) {
    if (left() < n) fail(kind::malformed, "BINARY stream ends inside a row");
    auto at = p_;
    p_ += n;
    return at;
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
};

std::uint64_t big_endian(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class binary_decoder {
 public:
  binary_decoder(const votable_field& f, const codec& c, const votable_limits& limits)
      : f_(f), c_(c), limits_(limits) {}

  json::value cell(byte_reader& r, std::string& scratch) const {
    if (c_.scalar) {
      // The spec puts a lone bit in the MSB; astropy writes 0x08. Any set bit reads as 1.
      if (c_.type == vtype::bit) return r.take(1)[0] != 0;
      if (c_.is_string) return string(r.take(c_.elem_bytes), 1, scratch);  // one character
      return element(r.take(c_.elem_bytes));
    }
    std::size_t items = c_.last_dim;
    if (c_.variable) {
      items = static_cast<std::size_t>(big_endian(r.take(4), 4));
    }
    if (c_.is_string) {
      std::size_t strlen = c_.string_array ? c_.fixed_count : items;
      std::size_t nstrings = c_.string_array ? items : 1;
      check_bytes(strlen, nstrings, r);
      if (!c_.string_array) return string(r.take(strlen * c_.elem_bytes), strlen, scratch);
      json::array out;
      out.reserve(nstrings);
      for (std::size_t i = 0; i < nstrings; ++i) {
        out.push_back(string(r.take(strlen * c_.elem_bytes), strlen, scratch));
      }
      return out;
    }
    std::size_t n = c_.fixed_count * items;  // overflow-checked by check_bytes
    if (c_.type == vtype::bit) {
      check_bytes(1, (n + 7) / 8, r);
      auto p = r.take((n + 7) / 8);
      json::array out;
      out.reserve(n);
      for (std::size_t i = 0; i < n; ++i) out.emplace_back(((p[i / 8] >> (7 - i % 8)) & 1) != 0);
      return out;
    }
    check_bytes(1, n, r);
    auto p = r.take(n * c_.elem_bytes);
    json::array out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(element(p + i * c_.elem_bytes));
    return out;
  }

  // Skips the bytes of a cell whose BINARY2 null flag is set (they are present but meaningless).
  void skip(byte_reader& r) const {
    std::string scratch;
    (void)cell(r, scratch);
  }

 private:
  void check_bytes(std::size_t elem, std::size_t count, const byte_reader& r) const {
    // Counts come from the stream: bound them before allocating anything.
    if (count != 0 && (elem * c_.elem_bytes > limits_.max_cell_bytes / count)) {
      fail(kind::limit, "FIELD '" + f_.name + "': array of " + std::to_string(count) +
                            " elements exceeds the cell limit");
    }
    if (elem * c_.elem_bytes * count > r.left())
      fail(kind::malformed, "BINARY stream ends inside a row");
  }

  json::value string(const unsigned char* p, std::size_t chars, std::string& scratch) const {
    if (c_.type == vtype::char_) {
      auto s = std::string_view(reinterpret_cast<const char*>(p), chars);
      auto nul = s.find('\0');  // fixed-length cells are NUL-padded
      if (nul != std::string_view::npos) s = s.substr(0, nul);
      return json::string_view(s.data(), s.size());
    }
    scratch.clear();
    for (std::size_t i = 0; i < chars; ++i) {
      std::uint32_t u = static_cast<std::uint32_t>(big_endian(p + 2 * i, 2));
      if (u == 0) break;
      if (u >= 0xD800 && u < 0xDC00 && i + 1 < chars) {
        std::uint32_t lo = static_cast<std::uint32_t>(big_endian(p + 2 * (i + 1), 2));
        if (lo >= 0xDC00 && lo < 0xE000) {
          append_utf8(scratch, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
          ++i;
          continue;
        }
      }
      if (u >= 0xD800 && u < 0xE000) u = 0xFFFD;  // lone surrogate
      append_utf8(scratch, u);
    }
    return json::string_view(scratch.data(), scratch.size());
  }

  json::value integer(std::int64_t v) const {
    if (c_.int_null && v == *c_.int_null) return nullptr;
    return v;
  }
  json::value real(double v) const {
    if (real_is_null(v, c_)) return nullptr;
    return v;
  }

  json::value element(const unsigned char* p) const {
    switch (c_.type) {
      case vtype::boolean:
        switch (p[0]) {
          case 'T':
          case 't':
          case '1':
            return true;
          case 'F':
          case 'f':
          case '0':
            return false;
          default:
            return nullptr;  // '?', ' ', NUL
        }
      case vtype::bit:
        return (p[0] & 0x80) != 0;
      case vtype::ubyte:
        return integer(p[0]);
      case vtype::short_:
        return integer(static_cast<std::int16_t>(big_endian(p, 2)));
      case vtype::int_:
        return integer(static_cast<std::int32_t>(big_endian(p, 4)));
      case vtype::long_:
        return integer(static_cast<std::int64_t>(big_endian(p, 8)));
      case vtype::float_:
        return real(std::bit_cast<float>(static_cast<std::uint32_t>(big_endian(p, 4))));
      case vtype::double_:
        return real(std::bit_cast<double>(big_endian(p, 8)));
      case vtype::fcomplex: {
        double re = std::bit_cast<float>(static_cast<std::uint32_t>(big_endian(p, 4)));
        double im = std::bit_cast<float>(static_cast<std::uint32_t>(big_endian(p + 4, 4)));
        if (std::isnan(re) || std::isnan(im)) return nullptr;
        return json::array{re, im};
      }
      case vtype::dcomplex: {
        double re = std::bit_cast<double>(big_endian(p, 8));
        double im = std::bit_cast<double>(big_endian(p + 8, 8));
        if (std::isnan(re) || std::isnan(im)) return nullptr;
        return json::array{re, im};
      }
      case vtype::char_:
      case vtype::uchar:
        break;
    }
    return nullptr;
  }

  const votable_field& f_;
  const codec& c_;
  const votable_limits& limits_;
};

// Incremental base64 (whitespace ignored, '=' ends the data).
class base64_sink {
 public:
  void feed(std::string_view s, std::string& out) {
    for (char ch : s) {
      int v = value(static_cast<unsigned char>(ch));
      if (v == -2) continue;  // whitespace
      if (v == -3) {
        ended_ = true;
        continue;
      }
      if (v < 0 || ended_) fail(kind::malformed, "invalid base64 in STREAM");
      quad_ = (quad_ << 6) | static_cast<std::uint32_t>(v);
      if (++n_ == 4) {
        out.push_back(static_cast<char>(quad_ >> 16));
        out.push_back(static_cast<char>((quad_ >> 8) & 0xFF));
        out.push_back(static_cast<char>(quad_ & 0xFF));
        quad_ = 0;
        n_ = 0;
      }
    }
  }
  void finish(std::string& out) {
    if (n_ == 1) fail(kind::malformed, "truncated base64 in STREAM");
    if (n_ == 2) out.push_back(static_cast<char>(quad_ >> 4));
    if (n_ == 3) {
      out.push_back(static_cast<char>(quad_ >> 10));
      out.push_back(static_cast<char>((quad_ >> 2) & 0xFF));
    }
    n_ = 0;
  }

 private:
  static int value(unsigned char c) { return table()[c]; }
  static const std::array<std::int8_t, 256>& table() {
    static const auto t = [] {
      std::array<std::int8_t, 256> a;
      a.fill(-1);
      for (int i = 0; i < 26; ++i) {
        a[static_cast<std::size_t>('A' + i)] = static_cast<std::int8_t>(i);
        a[static_cast<std::size_t>('a' + i)] = static_cast<std::int8_t>(26 + i);
      }
      for (int i = 0; i < 10; ++i)
        a[static_cast<std::size_t>('0' + i)] = static_cast<std::int8_t>(52 + i);
      a['+'] = 62;
      a['/'] = 63;
      a[' '] = a['\n'] = a['\r'] = a['\t'] = -2;
      a['='] = -3;
      return a;
    }();
    return t;
  }
  std::uint32_t quad_ = 0;
  int n_ = 0;
  bool ended_ = false;
};

// ---------------------------------------------------------------- the expat-driven reader

enum class collect { none, td, stream, info };

class reader {
 public:
  reader(const votable_limits& limits) : limits_(limits) {}

  // The document through expat; with `fast`, the body of its TABLEDATA is scanned here instead
  // (see scan_tabledata). nullopt: the fast scan declined, parse again without it.
  std::optional<votable_result> run(std::string_view doc, bool fast) {
    if (doc.size() > limits_.max_document_bytes) {
      fail(kind::limit, "VOTable document of " + std::to_string(doc.size()) +
                            " bytes exceeds the limit of " +
                            std::to_string(limits_.max_document_bytes));
    }
    std::size_t open = std::string_view::npos, close = std::string_view::npos;
    if (fast) {
      constexpr std::string_view start_tag = "<TABLEDATA>", end_tag = "</TABLEDATA>";
      open = doc.find(start_tag);
      if (open != std::string_view::npos) close = doc.find(end_tag, open + start_tag.size());
      if (close == std::string_view::npos) return std::nullopt;  // nothing to scan here
      body_ = doc.substr(open + start_tag.size(), close - open - start_tag.size());
    }
    XML_Parser p = XML_ParserCreate(nullptr);
    if (!p) throw votable_error(kind::limit, "cannot allocate the XML parser");
    struct guard {
      XML_Parser p;
      ~guard() { XML_ParserFree(p); }
    } g{p};
    parser_ = p;
    document_size_ = doc.size();
    XML_SetUserData(p, this);
    XML_SetElementHandler(p, &reader::on_start, &reader::on_end);
    XML_SetCharacterDataHandler(p, &reader::on_text);
    // Internal entities are how "billion laughs" documents grow; VOTables have no use for them.
    XML_SetEntityDeclHandler(p, &reader::on_entity_decl);

    // Expat takes [from, to) of the document; false when it stopped (an error, or a declined scan).
    auto feed = [&](std::size_t from, std::size_t to, bool last) {
      constexpr std::size_t chunk = std::size_t{1} << 22;
      std::size_t off = from;
      do {
        std::size_t n = std::min(chunk, to - off);
        if (XML_Parse(p, doc.data() + off, static_cast<int>(n), last && off + n == to) !=
            XML_STATUS_OK) {
          if (fast) return false;  // the full parse says what is wrong, and at which line
          if (error_) std::rethrow_exception(error_);
          fail(kind::malformed, std::string("not well-formed XML at line ") +
                                    std::to_string(XML_GetCurrentLineNumber(p)) + ": " +
                                    XML_ErrorString(XML_GetErrorCode(p)));
        }
        keep_view();  // a TD may continue in the next chunk
        off += n;
      } while (off < to);
      return !(fast && error_);
    };
    if (fast) {
      // Up to and including <TABLEDATA>: it must be the first table's, found where the search
      // found it (not text in a comment), with expat between elements.
      auto body_at = static_cast<std::size_t>(body_.data() - doc.data());
      if (!feed(0, body_at, false) || tabledata_at_ != static_cast<XML_Index>(open) || !in_data_ ||
          collect_ != collect::none || in_tr_)
        return std::nullopt;
      try {
        if (!scan_tabledata()) return std::nullopt;
      } catch (const votable_error&) {
        return std::nullopt;
      }
      if (!feed(close, doc.size(), true)) return std::nullopt;
    } else {
      feed(0, doc.size(), true);
    }
    if (error_) std::rethrow_exception(error_);
    if (!saw_root_) fail(kind::malformed, "empty document");
    if (error_status_) fail(kind::query_error, *error_status_);
    return std::move(result_);
  }

 private:
  static void XMLCALL on_start(void* ud, const XML_Char* name, const XML_Char** attrs) {
    auto* self = static_cast<reader*>(ud);
    if (self->error_) return;
    try {
      self->start(local_name(name), attrs);
    } catch (...) {
      self->abort(std::current_exception());
    }
  }
  static void XMLCALL on_end(void* ud, const XML_Char* name) {
    auto* self = static_cast<reader*>(ud);
    if (self->error_) return;
    try {
      self->end(local_name(name));
    } catch (...) {
      self->abort(std::current_exception());
    }
  }
  static void XMLCALL on_text(void* ud, const XML_Char* s, int len) {
    auto* self = static_cast<reader*>(ud);
    if (self->error_ || self->collect_ == collect::none) return;
    try {
      self->text(std::string_view(s, static_cast<std::size_t>(len)));
    } catch (...) {
      self->abort(std::current_exception());
    }
  }
  static void XMLCALL on_entity_decl(void* ud, const XML_Char*, int, const XML_Char*, int,
                                     const XML_Char*, const XML_Char*, const XML_Char*,
                                     const XML_Char*) {
    auto* self = static_cast<reader*>(ud);
    if (self->error_) return;
    self->abort(std::make_exception_ptr(
        votable_error(kind::unsupported, "DTD entity declarations are not accepted")));
  }

  void abort(std::exception_ptr e) {
    // Exceptions must not cross expat's C frames: park it and stop the parser.
    if (!error_) {
      try {
        std::rethrow_exception(e);
      } catch (const votable_error&) {
        error_ = e;
      } catch (const std::bad_alloc&) {
        error_ = std::make_exception_ptr(
            votable_error(kind::limit, "out of memory while reading the VOTable"));
      } catch (const std::exception& x) {
        error_ = std::make_exception_ptr(votable_error(kind::malformed, x.what()));
      } catch (...) {
        error_ = std::make_exception_ptr(
            votable_error(kind::malformed, "unexpected error while reading the VOTable"));
      }
    }
    XML_StopParser(parser_, XML_FALSE);
  }

  void start(std::string_view name, const XML_Char** attrs) {
    ++depth_;
    if (!saw_root_) {
      saw_root_ = true;
      if (name != "VOTABLE")
        fail(kind::malformed, "not a VOTable: root element is <" + std::string(name) + ">");
    }
    if (in_data_) {
      if (name == "TD") {
        if (!in_tr_) fail(kind::malformed, "a TD outside a TR");
        if (column_ >= result_.fields.size())
          fail(kind::malformed, "a TR has more TD cells than there are FIELDs");
        text_.clear();
        view_ = {};
        collect_ = collect::td;
        return;
      }
      if (name == "TR") {
        if (in_tr_) fail(kind::malformed, "a TR inside a TR");
        in_tr_ = true;
        if (data_offset_ < 0) data_offset_ = XML_GetCurrentByteIndex(parser_);
        if (result_.row_count == kReserveSample) {
          // an empty cell takes at least 5 bytes ("<TD/>")
          reserve_from_progress(
              static_cast<std::size_t>(XML_GetCurrentByteIndex(parser_) - data_offset_),
              document_size_ - static_cast<std::size_t>(data_offset_), document_size_ / 5);
        }
        begin_row();
        column_ = 0;
        return;
      }
      if (name == "STREAM") {
        if (attribute(attrs, "href"))
          fail(kind::unsupported, "STREAM href (remote data) is not supported");
        auto enc = attribute(attrs, "encoding");
        if (!enc || std::string_view(enc) != "base64") {
          fail(kind::unsupported,
               std::string("STREAM encoding '") + (enc ? enc : "") + "' is not supported");
        }
        binary_bytes_.clear();
        binary_bytes_.reserve(
            (document_size_ - static_cast<std::size_t>(XML_GetCurrentByteIndex(parser_))) / 4 * 3);
        collect_ = collect::stream;
        return;
      }
      if (name == "BINARY" || name == "BINARY2" || name == "TABLEDATA") {
        result_.serialization = std::string(name);
        if (name == "TABLEDATA") tabledata_at_ = XML_GetCurrentByteIndex(parser_);
        return;
      }
      if (name == "FITS") fail(kind::unsupported, "FITS serialization is not supported");
      return;
    }
    if (name == "INFO") {
      auto n = attribute(attrs, "name");
      if (n && std::string_view(n) == "QUERY_STATUS") {
        auto v = attribute(attrs, "value");
        info_value_ = v ? v : "";
        text_.clear();
        collect_ = collect::info;
      }
      return;
    }
    if (name == "RESOURCE" || name == "GROUP" || name == "PARAM") {
      meta_start(name, attrs);
      return;
    }
    if (table_state_ == 2) return;  // only the first TABLE is read
    if (name == "TABLE") {
      if (table_state_ == 0) table_state_ = 1;
      table_depth_ = depth_;
      return;
    }
    if (table_state_ != 1) return;
    if (name == "FIELD" && depth_ == table_depth_ + 1) {
      // Rows already read have one cell per FIELD known then.
      if (data_seen_) fail(kind::malformed, "a FIELD after the table's DATA");
      if (result_.fields.size() >= limits_.max_fields) {
        fail(kind::limit, "more than " + std::to_string(limits_.max_fields) + " FIELDs");
      }
      votable_field f;
      for (auto a = attrs; *a; a += 2) {
        auto k = local_name(a[0]);
        if (k == "name")
          f.name = a[1];
        else if (k == "ID")
          f.id = a[1];
        else if (k == "datatype")
          f.datatype = a[1];
        else if (k == "arraysize")
          f.arraysize = a[1];
        else if (k == "ucd")
          f.ucd = a[1];
        else if (k == "unit")
          f.unit = a[1];
        else if (k == "xtype")
          f.xtype = a[1];
      }
      if (f.name.empty()) f.name = f.id;
      result_.fields.push_back(std::move(f));
      field_depth_ = depth_;
      return;
    }
    if (name == "VALUES" && field_depth_ && depth_ == field_depth_ + 1) {
      if (auto n = attribute(attrs, "null")) result_.fields.back().null_value = n;
      return;
    }
    if (name == "DATA" && depth_ == table_depth_ + 1) {
      if (!data_seen_) prepare_codecs();
      data_seen_ = true;
      in_data_ = true;
      data_depth_ = depth_;
    }
  }

  void end(std::string_view name) {
    auto d = depth_--;
    if (collect_ == collect::td && name == "TD") {
      collect_ = collect::none;
      decode_td();
      return;
    }
    if (in_data_) {
      if (name == "TR" && in_tr_) {
        finish_row_td();
        in_tr_ = false;
      } else if (name == "STREAM") {
        collect_ = collect::none;
        base64_.finish(binary_bytes_);
        decode_binary();
      } else if (name == "DATA" && d == data_depth_) {
        in_data_ = false;
      }
      return;
    }
    if (collect_ == collect::info && name == "INFO") {
      collect_ = collect::none;
      query_status(info_value_, trim(text_));
      return;
    }
    if (name == "FIELD" && d == field_depth_) field_depth_ = 0;
    if (name == "TABLE" && table_state_ == 1 && d == table_depth_) table_state_ = 2;
    if (name == "GROUP" && group_depth_ && d == group_depth_) group_depth_ = 0;
    if (name == "RESOURCE" && !resource_stack_.empty() && d == resource_stack_.back().first) {
      resource_stack_.pop_back();
    }
  }

  // RESOURCE/GROUP/PARAM bookkeeping for votable_result::resources. Only direct children
  // are recorded (depth checks), so PARAMs of a TABLE or FIELD never land in a resource.
  void meta_start(std::string_view name, const XML_Char** attrs) {
    auto bound = [&](std::size_t n, const char* what) {
      if (n >= limits_.max_fields) {
        fail(kind::limit, "more than " + std::to_string(limits_.max_fields) + " " + what);
      }
    };
    auto attr = [&](std::string_view k) {
      auto v = attribute(attrs, k);
      return std::string(v ? v : "");
    };
    if (name == "RESOURCE") {
      bound(result_.resources.size(), "RESOURCEs");
      votable_resource r;
      r.id = attr("ID");
      r.name = attr("name");
      r.type = attr("type");
      r.utype = attr("utype");
      result_.resources.push_back(std::move(r));
      resource_stack_.emplace_back(depth_, result_.resources.size() - 1);
      return;
    }
    if (resource_stack_.empty()) return;
    auto& res = result_.resources[resource_stack_.back().second];
    auto parent_depth = resource_stack_.back().first;
    if (name == "GROUP") {
      if (depth_ != parent_depth + 1) return;
      bound(res.groups.size(), "GROUPs in a RESOURCE");
      res.groups.push_back(votable_group{attr("name"), attr("ID"), attr("ref"), {}});
      group_depth_ = depth_;
      return;
    }
    // PARAM
    std::vector<votable_param>* target = nullptr;
    if (depth_ == parent_depth + 1)
      target = &res.params;
    else if (group_depth_ && depth_ == group_depth_ + 1 && !res.groups.empty())
      target = &res.groups.back().params;
    if (!target) return;
    bound(target->size(), "PARAMs in one RESOURCE or GROUP");
    target->push_back(votable_param{attr("name"), attr("ID"), attr("ref"), attr("value"),
                                    attr("datatype"), attr("arraysize"), attr("ucd"), attr("utype"),
                                    attr("xtype")});
  }

  void text(std::string_view s) {
    if (collect_ == collect::stream) {
      base64_.feed(s, binary_bytes_);
      return;
    }
    if (text_.size() + view_.size() + s.size() > limits_.max_cell_bytes) {
      fail(kind::limit, "a cell exceeds " + std::to_string(limits_.max_cell_bytes) + " bytes");
    }
    // Most TDs arrive in one piece: keep a view into expat's buffer instead of copying.
    // (It is valid until XML_Parse returns; run() copies it out before that.)
    if (collect_ == collect::td && text_.empty() && view_.data() == nullptr) {
      view_ = s;
      return;
    }
    keep_view();
    text_.append(s);
  }

  void keep_view() {
    if (view_.data() != nullptr) {
      text_.append(view_);
      view_ = {};
    }
  }

  void query_status(const std::string& value, std::string_view message) {
    result_.query_status = value;
    if (value == "OVERFLOW") result_.truncated = true;
    if (value == "ERROR" && !error_status_) {
      error_status_ = message.empty()
                          ? std::string("query failed (QUERY_STATUS=ERROR without a message)")
                          : std::string(message);
      // Nothing after an error can make the result usable.
      fail(kind::query_error, *error_status_);
    }
  }

  void prepare_codecs() {
    codecs_.clear();
    for (auto& f : result_.fields) {
      auto c = make_codec(f, limits_);
      if (f.null_value) {
        if (c.type == vtype::float_ || c.type == vtype::double_) {
          c.float_null = parse_real(*f.null_value);
        } else if (!c.is_string && c.type != vtype::boolean && c.type != vtype::bit) {
          c.int_null = parse_integer(*f.null_value, c.type);
          if (!c.int_null) {
            fail(kind::malformed,
                 "FIELD '" + f.name + "' has a non-integer VALUES null '" + *f.null_value + "'");
          }
        }
      }
      codecs_.push_back(c);
    }
  }

  // After some rows, reserve the cells the rest of the data will need (saves the copies and
  // page faults of repeated doubling). Bounded by the limits and by what the bytes can hold.
  static constexpr std::size_t kReserveSample = 1024;
  void reserve_from_progress(std::size_t consumed, std::size_t total,
                             std::size_t max_cells_by_bytes) {
    constexpr std::size_t sample = kReserveSample;
    if (result_.row_count != sample || consumed == 0 || result_.fields.empty()) return;
    double rows =
        static_cast<double>(total) / static_cast<double>(consumed) * sample * 1.05 + sample;
    double cells = std::min({rows, static_cast<double>(limits_.max_rows)}) *
                   static_cast<double>(result_.fields.size());
    cells = std::min(
        {cells, static_cast<double>(limits_.max_cells), static_cast<double>(max_cells_by_bytes)});
    result_.cells.reserve(static_cast<std::size_t>(cells));
  }

  void begin_row() {
    if (result_.row_count >= limits_.max_rows) {
      fail(kind::limit, "more than " + std::to_string(limits_.max_rows) + " rows");
    }
    if (result_.cells.size() + result_.fields.size() > limits_.max_cells) {
      fail(kind::limit, "more than " + std::to_string(limits_.max_cells) + " cells");
    }
    ++result_.row_count;
  }

  // The TABLEDATA body (body_) without expat, as start/text/end would read it: false when it
  // holds anything but whitespace, <TR>, </TR>, <TD>, <TD/> and </TD> around TD text of
  // printable ASCII, tabs, newlines and the five named entities (comments, CDATA, character
  // references, attributes, other text, carriage returns in a TD (XML normalises them), non-ASCII
  // bytes (expat checks their encoding) or a body that ends inside a TR). A votable_error
  // here (a limit, a cell its FIELD cannot read) is also left to the full parse.
  bool scan_tabledata() {
    const char* p = body_.data();
    const char* const end = p + body_.size();
    auto at = [&](std::string_view tag) {
      return static_cast<std::size_t>(end - p) >= tag.size() &&
             std::memcmp(p, tag.data(), tag.size()) == 0;
    };
    std::size_t max_cells_by_bytes = body_.size() / 5 + 1;  // an empty cell is "<TD/>"
    for (;;) {
      while (p != end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
      if (p == end) return !in_tr_;
      if (at("<TD>") || at("<TD/>")) {
        if (!in_tr_) return false;
        if (column_ >= result_.fields.size()) return false;
        text_.clear();
        view_ = {};
        if (p[3] == '/') {
          p += 5;
        } else {
          p += 4;
          const auto* q =
              static_cast<const char*>(std::memchr(p, '<', static_cast<std::size_t>(end - p)));
          if (!q || static_cast<std::size_t>(end - q) < 5 || std::memcmp(q, "</TD>", 5) != 0)
            return false;
          std::string_view raw(p, static_cast<std::size_t>(q - p));
          if (raw.size() > limits_.max_cell_bytes) return false;
          if (!plain_text(raw)) return false;
          p = q + 5;
        }
        decode_td();
        continue;
      }
      if (at("<TR>")) {
        if (in_tr_) return false;
        in_tr_ = true;
        if (result_.row_count == kReserveSample)
          reserve_from_progress(static_cast<std::size_t>(p - body_.data()), body_.size(),
                                max_cells_by_bytes);
        begin_row();
        column_ = 0;
        p += 4;
        continue;
      }
      if (at("</TR>")) {
        if (!in_tr_) return false;
        finish_row_td();
        in_tr_ = false;
        p += 5;
        continue;
      }
      return false;
    }
  }

  // TD text as expat would report it, into view_ (no reference) or text_ (references
  // replaced); false for anything scan_tabledata leaves to expat.
  bool plain_text(std::string_view raw) {
    bool refs = false;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      auto c = static_cast<unsigned char>(raw[i]);
      if (c == '&')
        refs = true;
      else if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n'))
        return false;
      else if (c == '>' && i >= 2 && raw[i - 1] == ']' && raw[i - 2] == ']')
        return false;  // "]]>"
    }
    if (!refs) {
      view_ = raw;
      return true;
    }
    static constexpr std::pair<std::string_view, char> named[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (std::size_t i = 0; i < raw.size();) {
      if (raw[i] != '&') {
        auto next = raw.find('&', i);
        if (next == std::string_view::npos) next = raw.size();
        text_.append(raw.substr(i, next - i));
        i = next;
        continue;
      }
      bool known = false;
      for (const auto& [name, ch] : named) {
        if (raw.substr(i, name.size()) == name) {
          text_.push_back(ch);
          i += name.size();
          known = true;
          break;
        }
      }
      if (!known) return false;  // a character reference, or not well-formed
    }
    return true;
  }

  void decode_td() {
    const auto& f = result_.fields[column_];
    auto& slot = result_.cells.emplace_back(nullptr);
    text_decoder(f, codecs_[column_]).fill(view_.data() ? view_ : std::string_view(text_), slot);
    view_ = {};
    ++column_;
  }

  void finish_row_td() {
    // Missing trailing TDs are nulls rather than a shifted row.
    for (; column_ < result_.fields.size(); ++column_) result_.cells.emplace_back(nullptr);
  }

  void decode_binary() {
    bool flags = result_.serialization == "BINARY2";
    std::size_t nf = result_.fields.size();
    std::size_t flag_bytes = flags ? (nf + 7) / 8 : 0;
    if (nf == 0) {
      if (!binary_bytes_.empty()) fail(kind::malformed, "BINARY data for a table without FIELDs");
      return;
    }
    std::vector<binary_decoder> decoders;
    decoders.reserve(nf);
    for (std::size_t i = 0; i < nf; ++i)
      decoders.emplace_back(result_.fields[i], codecs_[i], limits_);
    byte_reader r(binary_bytes_);
    std::string scratch;
    while (!r.done()) {
      reserve_from_progress(binary_bytes_.size() - r.left(), binary_bytes_.size(),
                            binary_bytes_.size());
      begin_row();
      const unsigned char* nulls = flags ? r.take(flag_bytes) : nullptr;
      for (std::size_t i = 0; i < nf; ++i) {
        if (nulls && (nulls[i / 8] & (0x80 >> (i % 8)))) {
          decoders[i].skip(r);
          result_.cells.emplace_back(nullptr);
        } else {
          result_.cells.push_back(decoders[i].cell(r, scratch));
        }
      }
    }
    binary_bytes_.clear();
    binary_bytes_.shrink_to_fit();
  }

  const votable_limits& limits_;
  XML_Parser parser_ = nullptr;
  std::exception_ptr error_;
  votable_result result_;
  std::vector<codec> codecs_;
  std::optional<std::string> error_status_;
  std::string text_;
  std::string_view view_;  // the current TD's text while it came in one callback
  std::string info_value_;
  std::string binary_bytes_;
  base64_sink base64_;
  collect collect_ = collect::none;
  std::size_t depth_ = 0, table_depth_ = 0, field_depth_ = 0, data_depth_ = 0, column_ = 0;
  int table_state_ = 0;  // 0 before the first TABLE, 1 inside it, 2 after it
  std::vector<std::pair<std::size_t, std::size_t>>
      resource_stack_;           // (depth, index) of open RESOURCEs
  std::size_t group_depth_ = 0;  // depth of the open GROUP directly in the innermost RESOURCE
  bool saw_root_ = false;
  bool in_data_ = false;
  bool in_tr_ = false;
  bool data_seen_ = false;
  XML_Index data_offset_ = -1;   // byte offset of the first TR
  XML_Index tabledata_at_ = -1;  // byte offset of the TABLEDATA start tag
  std::string_view body_;        // the TABLEDATA body the fast scan reads
  std::size_t document_size_ = 0;
};

void write_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void write_json(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      break;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      break;
    case json::kind::double_: {
      double d = v.get_double();
      if (std::isinf(d)) {
        out += d > 0 ? "\"+Inf\"" : "\"-Inf\"";
      } else {
        char buf[32];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
        (void)ec;
        std::string_view t(buf, static_cast<std::size_t>(p - buf));
        out += t;
        // Keep doubles recognisable as floats in the JSON ("1" would read back as an integer).
        if (t.find_first_of(".eEn") == std::string_view::npos) out += ".0";
      }
      break;
    }
    case json::kind::string:
      write_json_string(out, v.get_string());
      break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_json(out, e);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (auto& kv : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        write_json_string(out, kv.key());
        out.push_back(':');
        write_json(out, kv.value());
      }
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

std::optional<std::size_t> votable_result::column(std::string_view name) const {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (iequals(fields[i].name, name)) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> votable_result::column_by_id(std::string_view id) const {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (!id.empty() && fields[i].id == id) return i;
  }
  return std::nullopt;
}

const votable_resource* votable_result::resource_by_id(std::string_view id) const {
  for (const auto& r : resources) {
    if (!id.empty() && r.id == id) return &r;
  }
  return nullptr;
}

boost::json::object votable_result::row_object(std::size_t i) const {
  json::object o;
  auto r = row(i);
  for (std::size_t c = 0; c < fields.size(); ++c) o[fields[c].name] = r[c];
  return o;
}

namespace {
std::atomic<std::uint64_t> fast_scans{0};
}  // namespace

std::uint64_t votable_fast_tabledata_count() { return fast_scans.load(std::memory_order_relaxed); }

votable_result parse_votable(std::string_view document, const votable_limits& limits) {
  try {
    if (limits.fast_tabledata)
      if (auto r = reader(limits).run(document, true)) {
        fast_scans.fetch_add(1, std::memory_order_relaxed);
        return std::move(*r);
      }
    return std::move(*reader(limits).run(document, false));
  } catch (const votable_error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw votable_error(kind::limit, "out of memory while reading the VOTable");
  } catch (const std::exception& e) {
    throw votable_error(kind::malformed, e.what());
  }
}

std::string votable_canonical_json(const votable_result& result) {
  std::string out;
  out += "{\"fields\":[";
  for (std::size_t i = 0; i < result.fields.size(); ++i) {
    const auto& f = result.fields[i];
    if (i) out.push_back(',');
    out += "{\"name\":";
    write_json_string(out, f.name);
    out += ",\"datatype\":";
    write_json_string(out, f.datatype);
    out += ",\"arraysize\":";
    write_json_string(out, f.arraysize);
    out += "}";
  }
  out += "],\"rows\":[";
  for (std::size_t r = 0; r < result.row_count; ++r) {
    if (r) out += ",\n";
    out.push_back('[');
    auto row = result.row(r);
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c) out.push_back(',');
      write_json(out, row[c]);
    }
    out.push_back(']');
  }
  out += "],\"truncated\":";
  out += result.truncated ? "true" : "false";
  out += ",\"serialization\":";
  write_json_string(out, result.serialization);
  out += "}\n";
  return out;
}

}  // namespace beampipe::adapters
