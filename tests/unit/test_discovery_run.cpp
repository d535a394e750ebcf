#include <doctest/doctest.h>

#include "archive/simulated.hpp"
#include "domain/discovery_run.hpp"
#include "domain/project_config.hpp"

#include <fstream>
#include <sstream>

using namespace beampipe;
namespace json = boost::json;
using kind = domain::discovery_run_result::kind;

namespace {

domain::ProjectConfig wallaby() {
  std::ifstream f(std::string(BEAMPIPE_REFERENCE_DIR) + "/wallaby_hires.v1.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  auto r = domain::validate_project_config_text(ss.str());
  REQUIRE(r.valid);
  return *r.config;
}

domain::archive_query sim(const archive::simulated_archive& a, std::vector<std::string>* seen = nullptr) {
  return [&a, seen](const std::string& adapter, const std::string& adql) {
    if (seen) seen->push_back(adapter + ": " + adql);
    return a.query(adapter, adql);
  };
}

}  // namespace

TEST_CASE("simulated archive answers the WALLABY queries like the DaCHS fixture") {
  archive::simulated_archive a;
  auto r = a.query("casda", "SELECT o.* FROM ivoa.obscore o WHERE o.filename LIKE 'HIPASSJ1313-15%' AND "
                            "o.obs_collection IN ('ASKAP Pilot Survey for WALLABY', 'WALLABY')");
  REQUIRE(r.rows);
  CHECK(r.rows->rows.size() == 10);
  auto latest = a.query("casda", "SELECT o.* FROM ivoa.obscore o INNER JOIN (SELECT MAX(t_max) AS mx FROM ivoa.obscore "
                                 "WHERE filename LIKE 'HIPASSJ1313-15%') AS latest ON o.t_max = latest.mx "
                                 "WHERE o.filename LIKE 'HIPASSJ1313-15%'");
  REQUIRE(latest.rows);
  CHECK(latest.rows->rows.size() == 5);
  CHECK(latest.rows->rows[0].as_object().at("obs_id") == "ASKAP-12346");
  auto hip = a.query("vizier", "SELECT HIPASS, RAJ2000 FROM \"VIII/73/hicat\" WHERE HIPASS = 'J1313-15'");
  REQUIRE(hip.rows);
  REQUIRE(hip.rows->rows.size() == 1);
  CHECK(hip.rows->rows[0].as_object().at("RVmom").as_double() == doctest::Approx(1405.6));
  CHECK(a.query("casda", "SELECT * FROM nowhere").failure);
  CHECK(a.query("tap", "SELECT * FROM ivoa.obscore").failure);
  CHECK(a.query("casda", "SELECT * FROM ivoa.obscore WHERE filename = 'unterminated").failure);
  // A quote inside an escaped literal stays inside the literal.
  auto q = a.query("casda", "SELECT * FROM ivoa.obscore WHERE filename LIKE 'HIPASSJ1313-15'' OR ''1''=''1%'");
  REQUIRE(q.rows);
  CHECK(q.rows->rows.empty());
}

TEST_CASE("discovery of HIPASSJ1313-15 with the WALLABY config on the simulated archive") {
  auto config = wallaby();
  archive::simulated_archive a;
  std::vector<std::string> seen;
  auto r = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, sim(a, &seen));
  INFO((r.failure ? r.failure->message : std::string()));
  REQUIRE(r.outcome == kind::changed);
  CHECK(r.signature.size() == 64);
  CHECK(r.datasets == 5);
  REQUIRE(r.rows.size() == 1);
  REQUIRE(r.rows.count("12346") == 1);
  const auto& datasets = r.rows.at("12346").as_object().at("datasets").as_array();
  REQUIRE(datasets.size() == 5);
  const auto& first = datasets[0].as_object();
  CHECK(first.at("sbid") == "12346");
  CHECK(first.at("scan_id") == "879950");
  CHECK(first.at("visibility_filename") == "HIPASSJ1313-15_B_beam00.ms.tar");
  CHECK(first.contains("access_url"));  // Q1 fix: full records are kept
  CHECK(first.at("evaluation_file") == "calibration-metadata-processing-logs-SB12346_2024-02-01.tar");
  CHECK(r.flags.at("ra_dec_vsys_complete") == true);
  CHECK(r.flags.contains("ra_string"));
  CHECK(r.flags.at("vsys").as_double() == doctest::Approx(1405.6));
  // Queries went to the right adapters with the rendered identifiers.
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].find("casda: ") == 0);
  CHECK(seen[0].find("'HIPASSJ1313-15%'") != std::string::npos);
  CHECK(seen[1].find("vizier: ") == 0);
  CHECK(seen[1].find("'J1313-15'") != std::string::npos);
  CHECK(seen[2].find("sbid = '12346'") != std::string::npos);

  // Same archive again: unchanged, nothing to store.
  auto again = domain::run_discovery(config, "HIPASSJ1313-15", r.signature, r.rows, sim(a));
  CHECK(again.outcome == kind::unchanged);
  CHECK(again.signature == r.signature);
  CHECK(again.rows.empty());

  // A source the archive does not hold: no datasets, once.
  auto none = domain::run_discovery(config, "HIPASSJ0000-00", "", {}, sim(a));
  CHECK(none.outcome == kind::no_datasets);
  CHECK(none.rows.count("0") == 1);
  auto none_again = domain::run_discovery(config, "HIPASSJ0000-00", none.signature, none.rows, sim(a));
  CHECK(none_again.outcome == kind::unchanged);
}

TEST_CASE("discovery failures: primary query errors fail, secondary ones only warn") {
  auto config = wallaby();
  archive::simulated_archive a;
  auto primary_down = [](const std::string&, const std::string&) {
    return domain::archive_answer{std::nullopt, domain::archive_failure{"connection refused", true}};
  };
  auto r = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, primary_down);
  CHECK(r.outcome == kind::failed);
  REQUIRE(r.failure);
  CHECK(r.failure->retryable);
  CHECK(r.failure->message.find("connection refused") != std::string::npos);

  auto vizier_down = [&a](const std::string& adapter, const std::string& adql) {
    if (adapter == "vizier") return domain::archive_answer{std::nullopt, domain::archive_failure{"timeout", true}};
    return a.query(adapter, adql);
  };
  auto w = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, vizier_down);
  CHECK(w.outcome == kind::changed);
  CHECK(w.warnings.size() == 1);
  CHECK(w.flags.at("ra_dec_vsys_complete") == false);

  auto no_cal = [&a](const std::string& adapter, const std::string& adql) {
    if (adql.find("observation_evaluation_file") != std::string::npos)
      return domain::archive_answer{domain::archive_rows{}, std::nullopt};
    return a.query(adapter, adql);
  };
  auto c = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, no_cal);
  CHECK(c.outcome == kind::failed);
  CHECK_FALSE(c.failure->retryable);
  CHECK(c.failure->message == "SBID 12346 has no valid calibration metadata archive");
}
