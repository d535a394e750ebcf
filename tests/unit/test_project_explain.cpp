// project explain: the words name what the config will do (archives, each query, the record
// fields and their transforms, the signature, the graph, the automation) and every error.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "domain/project_explain.hpp"

using namespace beampipe::domain;

namespace {
std::string reference(const char* name) {
  std::ifstream in(std::string(BEAMPIPE_REFERENCE_DIR) + "/" + name);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}
bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("project explain: the WALLABY config in words") {
  auto words = explain_project(validate_project_config_text(reference("wallaby_hires.v1.yaml")));
  CHECK(has(words, "Project wallaby_hires: valid"));
  CHECK(has(words, "\"visibility\" on casda:"));
  CHECK(has(words, "FROM \"VIII/73/hicat\" WHERE HIPASS = '{source_name}'"));
  CHECK(has(words, "Then, for each SBID found:"));
  CHECK(has(words, "sbid <- obs_id via normalized_sbid"));
  CHECK(has(words, "normalized_sbid: chain steps=[\"askap_sbid\",\"trim\"]"));
  CHECK(has(words, "except [\"access_url\""));
  CHECK(has(words, "on profile slurm-remote"));
  CHECK_FALSE(has(words, "error:"));
}

TEST_CASE("project explain: an invalid config names its errors by path") {
  auto words = explain_project(
      validate_project_config_text("apiVersion: beampipe.dev/v1\nkind: Project\nmetadata: {}\n"));
  CHECK(has(words, "INVALID"));
  CHECK(has(words, "error: metadata.id"));
}
