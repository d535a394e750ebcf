// The simulated archive: the default when no TAP URL is configured, so `beampipe start`
// shows discovery working offline. It holds bundled CASDA and VizieR rows (the WALLABY
// reference sources HIPASSJ1313-15 and HIPASSJ1318-21, several SBIDs × 5 beams, their
// calibration archives, and the HIPASS catalogue rows) and answers ADQL with a small,
// documented evaluator: the table after FROM, `col = 'v'`, `col LIKE 'v%'` and
// `col IN ('a', 'b')` conditions ANDed together, and `MAX(t_max)` keeping the latest
// observation. It is not an ADQL engine; anything else is answered as an ADQL error.
#pragma once

#include <map>
#include <string>

#include "domain/discovery_run.hpp"

namespace beampipe::archive {

class simulated_archive {
 public:
  // datalink_base: where the bundled rows' DataLink access URLs point (CASDA's
  // "<base>datalink/links?ID=…"); a test can aim them at a CASDA stand-in.
  explicit simulated_archive(std::string datalink_base = kDefaultDatalinkBase);
  static constexpr const char* kDefaultDatalinkBase =
      "https://data.casda.example/casda_vo_proxy/vo/";
  domain::archive_answer query(const std::string& adapter, const std::string& adql) const;
  // Bundled tables by adapter and canonical table name.
  const std::map<std::string, boost::json::array>& tables(const std::string& adapter) const;

 private:
  std::map<std::string, std::map<std::string, boost::json::array>> tables_;
};

}  // namespace beampipe::archive
