// libFuzzer target: VOTable reader (TABLEDATA, BINARY, BINARY2) and the UWS job parser.
// Invariants: only votable_error / tap_error escape; a parsed result is rectangular
// (cells == rows × fields) and its canonical JSON can be produced.
#include <cstddef>
#include <cstdint>
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
  try {
    auto r = parse_votable(text, limits);
    if (r.cells.size() != r.row_count * r.fields.size()) __builtin_trap();
    (void)votable_canonical_json(r);
  } catch (const votable_error&) {
  }
  try {
    (void)parse_uws_job(text);
  } catch (const tap_error&) {
  }
  return 0;
}
