// libFuzzer target: VOTable reader (TABLEDATA, BINARY, BINARY2) and the UWS job parser.
// Invariants: only votable_error / tap_error escape; a parsed result is rectangular
// (cells == rows × fields) and its canonical JSON can be produced; the fast TABLEDATA scan
// changes nothing (the same result or error as expat alone).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/tap_client.hpp"
#include "adapters/votable.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace beampipe::adapters;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  votable_limits limits;  // small bounds: the fuzzer must explore, not allocate
  limits.max_rows = 10'000;
  limits.max_cells = 1'000'000;
  limits.max_cell_bytes = 1 << 20;
  // The fast TABLEDATA scan and expat alone give the same result or the same error.
  std::string outcome[2];
  for (int full = 0; full < 2; ++full) {
    limits.fast_tabledata = full == 0;
    try {
      auto r = parse_votable(text, limits);
      if (r.cells.size() != r.row_count * r.fields.size()) __builtin_trap();
      outcome[full] = votable_canonical_json(r) + "|" + r.query_status + "|" + r.serialization +
                      "|" + std::to_string(r.resources.size());
    } catch (const votable_error& e) {
      outcome[full] = std::string("error ") + std::to_string(static_cast<int>(e.code())) + e.what();
    }
  }
  if (outcome[0] != outcome[1]) __builtin_trap();
  try {
    (void)parse_uws_job(text);
  } catch (const tap_error&) {
  }
  return 0;
}
