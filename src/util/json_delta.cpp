#include "util/json_delta.hpp"

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

}  // namespace beampipe::util
