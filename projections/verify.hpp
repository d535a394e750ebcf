#pragma once
// `beampipe replay --verify`: rebuild every projection into a shadow schema up to exactly the
// live checkpoints, then compare per-table digests with the live read models.
#include <functional>
#include <string>
#include <vector>

#include "projections/engine.hpp"

namespace beampipe::projections {

struct table_comparison {
  std::string table;
  table_digest live;
  table_digest shadow;
  bool equal() const { return live.rows == shadow.rows && live.md5 == shadow.md5; }
};

struct verify_report {
  std::vector<table_comparison> tables;
  size_t events_replayed = 0;
  bool ok() const {
    for (const auto& t : tables)
      if (!t.equal()) return false;
    return true;
  }
};

inline constexpr const char* kShadowSchema = "beampipe_shadow";

verify_report verify_replay(const std::string& conninfo,
                            const std::function<std::shared_ptr<engine>()>& make_engine,
                            const std::function<void(size_t)>& progress = {});

}  // namespace beampipe::projections
