// The input rule (util/input_rules.hpp) against the store's rule (events/validity.hpp):
// whatever the edge accepts, wrapped as event data the way the aggregates embed request
// fields, the store accepts and every reader parses; make_storable always yields storable
// text and leaves acceptable text untouched.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "events/validity.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace json = boost::json;
using namespace beampipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);

  // Raw text: acceptable text is left as it is; anything becomes storable.
  auto cleaned = text;
  util::make_storable(cleaned);
  if (!util::text_problem(text, util::text_kind::text) && cleaned != text) std::abort();
  if (util::text_problem(cleaned, util::text_kind::text) &&
      util::text_problem(cleaned, util::text_kind::text)->find("UTF-8") != std::string::npos)
    std::abort();
  if (cleaned.find('\0') != std::string::npos) std::abort();
  json::object wrapped{{"reason", json::string(cleaned)}};
  if (auto p = events::storage_problem(json::serialize(wrapped))) std::abort();

  // JSON bodies: accepted by the edge => storable nested a few levels down.
  auto v = util::parse_json(text, nullptr, util::kEventDepth);
  if (!v) return 0;
  if (!util::input_problem_of(*v)) {
    json::object event{{"provenance", json::object{{"payload", json::object{{"body", *v}}}}}};
    if (auto p = events::storage_problem(json::serialize(event))) std::abort();
    (void)events::parse_payload(json::serialize(event));
  }
  // Anything made storable in-process is storable if it is not too deep.
  auto copy = *v;
  util::make_storable(copy);
  json::object event{{"data", copy}};
  auto serialized = json::serialize(event);
  auto problem = events::storage_problem(serialized);
  if (problem && problem->find("levels") == std::string::npos &&
      problem->find("larger") == std::string::npos)
    std::abort();
  return 0;
}
