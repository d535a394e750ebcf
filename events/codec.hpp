#pragma once
// The one codec for event payloads: a struct described with BOOST_DESCRIBE_STRUCT converts to
// and from a JSON object member by member. Boost.JSON 1.81's own described-struct conversion
// demands exactly the listed keys, which would make every historical payload with one key
// more or less unreadable; this codec instead
//   * ignores keys it does not know (a reader of version N reads what version N wrote),
//   * treats a missing key as null,
//   * refuses a wrong type naming the field's path ("deliveries[1].channel_id").
// Member types and how they read:
//   std::string, int64_t, bool, double   required: absent or null is an error
//   std::optional<T>                     absent or null -> nullopt; written as null
//   omitted<T>                           absent or null -> empty; not written when empty
//   std::vector<T>                       absent or null -> empty; written as an array
//   boost::json::value                   anything, kept as given (absent -> null)
//   boost::json::object / array          that JSON kind (absent or null -> empty)
//   described structs                    nested objects
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace beampipe::events {

// A payload that does not have its type's shape. `field` is the JSON path of the culprit.
struct decode_error : std::runtime_error {
  std::string field;
  decode_error(std::string field_path, const std::string& what)
      : std::runtime_error(field_path + " " + what), field(std::move(field_path)) {}
};

// An optional member that is left out of the payload when empty (rather than written as null):
// for keys that older events never had and whose absence readers test for.
template <class T>
struct omitted : std::optional<T> {
  using std::optional<T>::optional;
};

namespace codec {
namespace json = boost::json;

template <class T>
inline constexpr bool is_described =
    boost::describe::has_describe_members<T>::value&& std::is_class_v<T>;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_omitted : std::false_type {};
template <class T>
struct is_omitted<omitted<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
json::value to_json(const T& v);
// Where a member sits, rendered only when something is wrong with it ("a.b[2].c").
struct path {
  const path* parent = nullptr;
  std::string_view name;  // a member, or empty for an array element
  std::size_t index = 0;
  std::string str() const {
    std::string head = parent ? parent->str() : std::string();
    if (!name.empty()) return head.empty() ? std::string(name) : head + "." + std::string(name);
    return head + "[" + std::to_string(index) + "]";
  }
};

// Reads a member into `out`, or (out == nullptr) only checks that it could be read: the
// check every reader of the store relies on costs no allocation.
template <class T>
void read(const json::value* v, T* out, const path* at);

template <class T>
json::object encode_object(const T& v) {
  json::object o;
  using members = boost::describe::describe_members<T, boost::describe::mod_public |
                                                           boost::describe::mod_inherited>;
  o.reserve(boost::mp11::mp_size<members>::value);  // grown once, not rehashed as it fills
  boost::mp11::mp_for_each<members>([&](auto D) {
    const auto& m = v.*D.pointer;
    using M = std::decay_t<decltype(m)>;
    if constexpr (is_omitted<M>::value) {
      if (m) o[D.name] = to_json(*m);
    } else {
      o[D.name] = to_json(m);
    }
  });
  return o;
}

template <class T>
void read_object(const json::object& o, T* out, const path* at) {
  using members = boost::describe::describe_members<T, boost::describe::mod_public |
                                                           boost::describe::mod_inherited>;
  boost::mp11::mp_for_each<members>([&](auto D) {
    auto it = o.find(D.name);
    path here{at, D.name};
    read(it == o.end() ? nullptr : &it->value(), out ? &(out->*D.pointer) : nullptr, &here);
  });
}

template <class T>
json::value to_json(const T& v) {
  if constexpr (std::is_same_v<T, json::value> || std::is_same_v<T, json::object> ||
                std::is_same_v<T, json::array>) {
    return json::value(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return json::value(json::string_view(v));
  } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, double>) {
    return json::value(v);
  } else if constexpr (std::is_integral_v<T>) {
    return json::value(static_cast<std::int64_t>(v));
  } else if constexpr (is_optional<T>::value || is_omitted<T>::value) {
    return v ? to_json(*v) : json::value(nullptr);
  } else if constexpr (is_vector<T>::value) {
    json::array a;
    a.reserve(v.size());
    for (const auto& x : v) a.push_back(to_json(x));
    return a;
  } else {
    static_assert(is_described<T>, "event member type has no codec");
    return encode_object(v);
  }
}

[[noreturn]] inline void wrong(const path* at, const char* expected) {
  throw decode_error(at ? at->str() : std::string("payload"), std::string("must be ") + expected);
}

template <class T>
void read(const json::value* v, T* out, const path* at) {
  bool absent = v == nullptr || v->is_null();
  if constexpr (std::is_same_v<T, json::value>) {
    if (out) *out = v ? *v : json::value(nullptr);
  } else if constexpr (std::is_same_v<T, json::object>) {
    if (!absent && !v->is_object()) wrong(at, "an object");
    if (out) *out = absent ? json::object() : v->get_object();
  } else if constexpr (std::is_same_v<T, json::array>) {
    if (!absent && !v->is_array()) wrong(at, "an array");
    if (out) *out = absent ? json::array() : v->get_array();
  } else if constexpr (is_optional<T>::value || is_omitted<T>::value) {
    if (absent) {
      if (out) out->reset();
    } else if (out) {
      typename T::value_type x{};
      read(v, &x, at);
      out->emplace(std::move(x));
    } else {
      read<typename T::value_type>(v, nullptr, at);
    }
  } else if constexpr (is_vector<T>::value) {
    if (out) out->clear();
    if (absent) return;
    if (!v->is_array()) wrong(at, "an array");
    const auto& a = v->get_array();
    if (out) out->resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      path here{at, {}, i};
      read(&a[i], out ? &(*out)[i] : nullptr, &here);
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (absent || !v->is_string()) wrong(at, "a string");
    if (out) out->assign(v->get_string().data(), v->get_string().size());
  } else if constexpr (std::is_same_v<T, bool>) {
    if (absent || !v->is_bool()) wrong(at, "a boolean");
    if (out) *out = v->get_bool();
  } else if constexpr (std::is_same_v<T, double>) {
    if (absent || !(v->is_double() || v->is_int64() || v->is_uint64())) wrong(at, "a number");
    if (out) *out = v->to_number<double>();
  } else if constexpr (std::is_integral_v<T>) {
    if (absent) wrong(at, "an integer");
    if (v->is_int64()) {
      if (out) *out = static_cast<T>(v->get_int64());
    } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      if (out) *out = static_cast<T>(v->get_uint64());
    } else {
      wrong(at, "an integer");
    }
  } else {
    static_assert(is_described<T>, "event member type has no codec");
    if (absent || !v->is_object()) wrong(at, "an object");
    read_object(v->get_object(), out, at);
  }
}

template <class T>
inline constexpr bool is_json = std::is_same_v<T, json::value> || std::is_same_v<T, json::object> ||
                                std::is_same_v<T, json::array>;

// read(), but the JSON documents inside `v` (members of type json::value, object or array, also
// when optional or nested in a described struct) are moved into `out` rather than copied; `v`
// is left valid but unspecified. Checks exactly what read() checks.
template <class T>
void take(json::value* v, T* out, const path* at) {
  bool absent = v == nullptr || v->is_null();
  if constexpr (is_json<T>) {
    read<T>(v, nullptr, at);  // the kind check
    if (absent)
      *out = T();
    else if constexpr (std::is_same_v<T, json::value>)
      *out = std::move(*v);
    else if constexpr (std::is_same_v<T, json::object>)
      *out = std::move(v->get_object());
    else
      *out = std::move(v->get_array());
  } else if constexpr (is_optional<T>::value || is_omitted<T>::value) {
    if (absent) {
      out->reset();
    } else {
      typename T::value_type x{};
      take(v, &x, at);
      out->emplace(std::move(x));
    }
  } else if constexpr (is_described<T> && !is_vector<T>::value) {
    if (absent || !v->is_object()) wrong(at, "an object");
    using members = boost::describe::describe_members<T, boost::describe::mod_public |
                                                             boost::describe::mod_inherited>;
    auto& o = v->get_object();
    boost::mp11::mp_for_each<members>([&](auto D) {
      auto it = o.find(D.name);
      path here{at, D.name};
      take(it == o.end() ? nullptr : &it->value(), &(out->*D.pointer), &here);
    });
  } else {
    read(v, out, at);
  }
}

// encode_object(), moving the JSON documents out of `v`.
template <class T>
json::object encode_taking(T& v) {
  json::object o;
  using members = boost::describe::describe_members<T, boost::describe::mod_public |
                                                           boost::describe::mod_inherited>;
  o.reserve(boost::mp11::mp_size<members>::value);
  boost::mp11::mp_for_each<members>([&](auto D) {
    auto& m = v.*D.pointer;
    using M = std::decay_t<decltype(m)>;
    if constexpr (is_json<M>) {
      o[D.name] = json::value(std::move(m));
    } else if constexpr (is_omitted<M>::value) {
      if (m) o[D.name] = to_json(*m);
    } else {
      o[D.name] = to_json(m);
    }
  });
  return o;
}

}  // namespace codec

// decode_as, moving the documents out of `o` (left valid but unspecified): for a caller that
// replaces what it decodes, as an aggregate's evolve step replaces its state.
template <class T>
T decode_taking(boost::json::object& o) {
  T out{};
  boost::json::value v(std::move(o));
  codec::take(&v, &out, nullptr);
  return out;
}

// encode, moving the documents out of `v` (left valid but unspecified).
template <class T>
boost::json::object encode_taking(T& v) {
  return codec::encode_taking(v);
}

// A typed payload as the JSON object it is stored as.
template <class T>
boost::json::object encode(const T& v) {
  return codec::encode_object(v);
}

// A JSON object as a typed payload; throws decode_error naming the field.
template <class T>
T decode_as(const boost::json::object& o) {
  T out{};
  codec::read_object(o, &out, nullptr);
  return out;
}

// Whether decode_as<T> would succeed (throws its decode_error), without building a T.
template <class T>
void check_as(const boost::json::object& o) {
  codec::read_object<T>(o, nullptr, nullptr);
}

}  // namespace beampipe::events
