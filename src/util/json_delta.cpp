#include "util/json_delta.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::util {
namespace json = boost::json;

namespace {

// A step of the path being walked: an object key or an array index. Kept as views while
// walking, made into JSON only for what differs (most of a graph is equal).
struct step {
  std::string_view key;
  std::size_t index = 0;
  bool is_key = true;
};

struct differ {
  std::vector<step> path;
  json::array out;

  void emit(const json::value& value) {
    json::array p;
    p.reserve(path.size());
    for (const auto& s : path)
      if (s.is_key)
        p.push_back(json::string(s.key));
      else
        p.push_back(static_cast<std::uint64_t>(s.index));
    out.push_back(json::array{std::move(p), value});
  }

  void walk(const json::value& base, const json::value& target) {
    if (base.kind() != target.kind()) return emit(target);
    if (const auto* b = base.if_object()) {
      const auto& t = target.get_object();
      // The target must keep the base's keys, in order, first; new keys may follow.
      if (t.size() < b->size()) return emit(target);
      auto ti = t.begin();
      for (auto bi = b->begin(); bi != b->end(); ++bi, ++ti)
        if (bi->key() != ti->key()) return emit(target);
      ti = t.begin();
      for (auto bi = b->begin(); bi != b->end(); ++bi, ++ti) {
        path.push_back({bi->key()});
        walk(bi->value(), ti->value());
        path.pop_back();
      }
      for (; ti != t.end(); ++ti) {
        path.push_back({ti->key()});
        emit(ti->value());
        path.pop_back();
      }
      return;
    }
    if (const auto* b = base.if_array()) {
      const auto& t = target.get_array();
      if (b->size() != t.size()) return emit(target);
      for (std::size_t i = 0; i < b->size(); ++i) {
        path.push_back({{}, i, false});
        walk((*b)[i], t[i]);
        path.pop_back();
      }
      return;
    }
    // Scalars of one kind. Doubles compare by their bits, so -0.0 and 0.0 differ.
    if (base.is_double() ? std::bit_cast<std::uint64_t>(base.get_double()) !=
                               std::bit_cast<std::uint64_t>(target.get_double())
                         : base != target)
      emit(target);
  }
};

}  // namespace

json::array json_delta(const json::value& base, const json::value& target) {
  differ d;
  d.walk(base, target);
  return std::move(d.out);
}

void apply_json_delta(json::value& value, const json::array& delta) {
  for (const auto& op : delta) {
    const auto* pair = op.if_array();
    if (!pair || pair->size() != 2 || !(*pair)[0].is_array())
      throw std::invalid_argument("a delta entry is not [path, value]");
    const auto& path = (*pair)[0].get_array();
    json::value* at = &value;
    for (std::size_t i = 0; i < path.size(); ++i) {
      const auto& step = path[i];
      bool last = i + 1 == path.size();
      if (auto* o = at->if_object(); o && step.is_string()) {
        if (last) {
          (*o)[step.get_string()] = (*pair)[1];
          at = nullptr;
          break;
        }
        auto it = o->find(step.get_string());
        if (it == o->end()) throw std::invalid_argument("a delta path names a missing key");
        at = &it->value();
      } else if (auto* a = at->if_array(); a && (step.is_uint64() || step.is_int64())) {
        // Indices are written unsigned and read back as int64 once they went through text.
        auto i =
            step.is_uint64() ? step.get_uint64() : static_cast<std::uint64_t>(step.get_int64());
        if (step.is_int64() && step.get_int64() < 0)
          throw std::invalid_argument("a delta path names a negative index");
        if (i >= a->size()) throw std::invalid_argument("a delta path names a missing index");
        at = &(*a)[static_cast<std::size_t>(i)];
      } else {
        throw std::invalid_argument("a delta path does not lead into the value");
      }
    }
    if (at) *at = (*pair)[1];  // the whole value, or an array element
  }
}

bool json_text_round_trips(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = 256;
  json::error_code ec;
  auto v = json::parse(text, ec, {}, opts);
  return !ec && json::serialize(v) == text;
}

namespace {

// Scanning a canonical text (Boost.JSON's serialisation: no whitespace, keys unique). Every
// function takes the offset of a value's first byte and returns the offset just past it;
// npos when the text is not what it should be.
constexpr std::size_t npos = std::string_view::npos;

std::size_t skip_string(std::string_view t, std::size_t i) {
  if (i >= t.size() || t[i] != '"') return npos;
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\')
      ++i;
    else if (t[i] == '"')
      return i + 1;
  }
  return npos;
}

std::size_t skip_value(std::string_view t, std::size_t i) {
  if (i >= t.size()) return npos;
  char c = t[i];
  if (c == '"') return skip_string(t, i);
  if (c == '{' || c == '[') {
    std::size_t depth = 0;
    while (i < t.size()) {
      char d = t[i];
      if (d == '"') {
        i = skip_string(t, i);
        if (i == npos) return npos;
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return npos;
  }
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']') ++i;
  return i;
}

// Whether the string token t[b, e) (quotes included) holds `key`.
bool key_is(std::string_view t, std::size_t b, std::size_t e, std::string_view key) {
  auto raw = t.substr(b + 1, e - b - 2);
  if (raw.find('\\') == std::string_view::npos) return raw == key;
  boost::system::error_code ec;
  auto v = json::parse(t.substr(b, e - b), ec);
  return !ec && v.is_string() && v.get_string() == key;
}

}  // namespace

json_text_patcher::json_text_patcher(std::string canonical) : text_(std::move(canonical)) {}

// One step into the value t[b, e): the member or element `step` names. A missing key gives its
// object's closing brace (where apply_json_delta appends it); nullopt: no such place.
std::optional<json_text_patcher::span> json_text_patcher::step_into(std::size_t b, std::size_t e,
                                                                    const json::value& step) const {
  std::string_view t = text_;
  if (step.is_string() && t[b] == '{') {
    std::size_t i = b + 1;
    while (t[i] != '}') {
      auto ke = skip_string(t, i);
      if (ke == npos || ke >= e || t[ke] != ':') return std::nullopt;
      auto vb = ke + 1, ve = skip_value(t, vb);
      if (ve == npos || ve >= e) return std::nullopt;
      if (key_is(t, i, ke, step.get_string())) return span{vb, ve, true, false};
      i = t[ve] == ',' ? ve + 1 : ve;
    }
    return span{i, i, false, i == b + 1};
  }
  if ((step.is_uint64() || (step.is_int64() && step.get_int64() >= 0)) && t[b] == '[') {
    auto want = step.is_uint64() ? step.get_uint64() : static_cast<std::uint64_t>(step.get_int64());
    std::size_t i = b + 1;
    for (std::uint64_t k = 0; t[i] != ']'; ++k) {
      auto ve = skip_value(t, i);
      if (ve == npos || ve >= e) return std::nullopt;
      if (k == want) return span{i, ve, true, false};
      i = t[ve] == ',' ? ve + 1 : ve;
    }
  }
  return std::nullopt;
}

std::optional<json_text_patcher::span> json_text_patcher::locate(const json::array& path) const {
  // The container's span is remembered (a run's new keys differ, the objects they go in do not).
  json::array parent(path.begin(), path.end() - 1);
  auto id = json::serialize(parent);
  std::optional<span> container;
  {
    std::lock_guard lk(mu_);
    if (auto it = spans_.find(id); it != spans_.end()) container = it->second;
  }
  if (!container) {
    auto e = skip_value(text_, 0);
    if (e == npos) return std::nullopt;
    span at{0, e, true, false};
    for (const auto& step : parent) {
      auto next = step_into(at.begin, at.end, step);
      if (!next || !next->exists) return std::nullopt;  // through a key the text lacks
      at = *next;
    }
    container = at;
    std::lock_guard lk(mu_);
    spans_.emplace(std::move(id), at);
  }
  return step_into(container->begin, container->end, path.back());
}

std::optional<std::string> json_text_patcher::apply(const json::array& delta) const {
  struct edit {
    span at;
    std::string key;  // for a missing key: its serialisation
    const json::value* value;
    std::size_t order;  // first set, for keys appended to one object
  };
  std::vector<edit> edits;
  std::vector<const json::array*> paths;
  for (const auto& op : delta) {
    const auto* pair = op.if_array();
    if (!pair || pair->size() != 2 || !(*pair)[0].is_array() || (*pair)[0].get_array().empty())
      return std::nullopt;
    const auto& path = (*pair)[0].get_array();
    // The same path again replaces the value the first set (where it stands); a path inside
    // another's value is not spliced.
    bool again = false;
    for (std::size_t k = 0; k < paths.size(); ++k) {
      const auto& q = *paths[k];
      auto n = std::min(q.size(), path.size());
      if (!std::equal(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n), path.begin()))
        continue;
      if (q.size() != path.size()) return std::nullopt;
      edits[k].value = &(*pair)[1];
      again = true;
    }
    if (again) continue;
    auto at = locate(path);
    if (!at) return std::nullopt;
    std::string key;
    if (!at->exists) key = json::serialize(path.back());
    edits.push_back({*at, std::move(key), &(*pair)[1], edits.size()});
    paths.push_back(&path);
  }
  // Disjoint paths have disjoint spans; keys appended to one object keep the order first set.
  std::sort(edits.begin(), edits.end(), [](const edit& a, const edit& b) {
    return a.at.begin != b.at.begin ? a.at.begin < b.at.begin : a.order < b.order;
  });
  for (std::size_t k = 1; k < edits.size(); ++k)  // two spellings of one path, say
    if (edits[k].at.begin < edits[k - 1].at.end ||
        (edits[k].at.exists && edits[k].at.begin == edits[k - 1].at.begin))
      return std::nullopt;
  std::string out;
  out.reserve(text_.size() + 256);
  std::size_t from = 0;
  std::size_t appended_at = npos;  // the '}' the last missing key went before
  bool first_in_parent = false;
  for (const auto& e : edits) {
    out.append(text_, from, e.at.begin - from);
    if (e.at.exists) {
      out += json::serialize(*e.value);
    } else {
      if (appended_at != e.at.begin) first_in_parent = e.at.parent_empty;
      if (!first_in_parent) out += ',';
      first_in_parent = false;
      appended_at = e.at.begin;
      out += e.key;
      out += ':';
      out += json::serialize(*e.value);
    }
    from = e.at.end;
  }
  out.append(text_, from, npos);
  return out;
}

}  // namespace beampipe::util
