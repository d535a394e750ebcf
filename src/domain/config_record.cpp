// The project_configs fold (see config_record.hpp).
#include "domain/config_record.hpp"

#include "events/codec.hpp"
#include "events/project.hpp"
#include "events/types.hpp"

namespace beampipe::domain::config_record {
namespace json = boost::json;
namespace et = beampipe::events::type;

bool handles(std::string_view t) {
  return t == et::project_config_uploaded || t == et::project_config_activated;
}

std::optional<revision> uploaded(std::string_view type, const json::object& d,
                                 std::string_view recorded_at) {
  if (type != et::project_config_uploaded) return std::nullopt;
  auto ev = events::decode_as<events::project_config_uploaded>(d);
  return revision{
      std::move(ev.uuid),        std::move(ev.project_id), ev.version, std::move(ev.spec),
      std::move(ev.spec_sha256), std::move(ev.warnings),   false,      std::string(recorded_at)};
}

std::optional<activation> activated(std::string_view type, const json::object& d) {
  if (type != et::project_config_activated) return std::nullopt;
  auto ev = events::decode_as<events::project_config_activated>(d);
  return activation{std::move(ev.uuid), std::move(ev.previous_uuid)};
}

void evolve(std::map<std::string, revision>& revisions, std::string_view type,
            const json::object& d, std::string_view recorded_at) {
  if (auto r = uploaded(type, d, recorded_at)) {
    auto key = r->uuid;
    revisions[key] = std::move(*r);
  } else if (auto a = activated(type, d)) {
    if (a->previous_uuid)
      if (auto it = revisions.find(*a->previous_uuid); it != revisions.end())
        it->second.active = false;
    if (auto it = revisions.find(a->uuid); it != revisions.end()) it->second.active = true;
  }
}

const revision* active(const std::map<std::string, revision>& revisions) {
  const revision* out = nullptr;
  for (const auto& [_, r] : revisions)
    if (r.active && (!out || r.version > out->version)) out = &r;
  return out;
}

json::object columns(const revision& r) { return events::encode(r); }

}  // namespace beampipe::domain::config_record
