// WebAssembly hooks run in SpiderMonkey (issue #25): the §5.9 ABI, its limits, and every way a
// module's answer can be wrong. The modules are built from tests/wasm/ (WAT and C).
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "adapters/wasm_hooks.hpp"
#include "util/hash.hpp"

using namespace beampipe::adapters;
namespace json = boost::json;

namespace {

std::string module(const std::string& name) {
  std::ifstream in(std::string(BEAMPIPE_TEST_WASM_DIR) + "/" + name + ".wasm", std::ios::binary);
  REQUIRE_MESSAGE(in, "test module " << name << " was not built");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Runs `hook` and returns the error text ("" when it succeeded).
std::string error_of(wasm_hook_runner& r, const std::string& mod, const std::string& hook,
                     const json::value& input = json::object{{"declarative_output", 1}}) {
  try {
    r.run_hook(beampipe::util::sha256_hex(mod), mod, hook, input);
    return "";
  } catch (const wasm_hook_error& e) {
    return e.what();
  }
}

json::value run(wasm_hook_runner& r, const std::string& mod, const std::string& hook,
                const json::value& input) {
  return r.run_hook(beampipe::util::sha256_hex(mod), mod, hook, input);
}

wasm_limits quick() {
  wasm_limits l;
  l.timeout = std::chrono::milliseconds(300);
  return l;
}

}  // namespace

TEST_CASE("wasm hooks: an identity module returns its input for each hook") {
  wasm_hook_runner r(quick());
  auto mod = module("identity");
  CHECK_FALSE(r.check_module(mod, {"prepare_metadata", "manifest", "graph_patches"}));
  json::value input = json::object{{"metadata", json::array{1, "two"}},
                                   {"project_id", "wallaby"},
                                   {"declarative_output", json::object{{"ü", "ascii and ✓"}}}};
  for (const char* hook : {"prepare_metadata", "manifest", "graph_patches"})
    CHECK(run(r, mod, hook, input) == input);
  // Input larger than the module's first page: its allocator grows the memory.
  json::value big = json::object{{"declarative_output", std::string(300000, 'x')}};
  CHECK(run(r, mod, "manifest", big) == big);
}

TEST_CASE("wasm hooks: a manifest hook adds a field, a metadata hook filters rows") {
  wasm_hook_runner r(quick());
  auto add = module("manifest_add_field");
  auto manifest = json::object{{"workflow", "wallaby"}, {"quote", "a \"}\" b"}};
  auto out = run(r, add, "manifest",
                 json::object{{"metadata", json::array{}},
                              {"project_id", "wallaby"},
                              {"declarative_output", manifest}});
  auto expected = manifest;
  expected["hook_added"] = true;
  CHECK(out == expected);

  auto filter = module("metadata_filter");
  json::array rows{json::object{{"sbid", "1"}, {"keep", true}},
                   json::object{{"sbid", "2"}, {"nested", json::array{"]", json::object{}}}},
                   json::object{{"keep", true}, {"sbid", "3"}}};
  auto kept = run(r, filter, "prepare_metadata", json::object{{"declarative_output", rows}});
  CHECK(kept == json::array{rows[0], rows[2]});
}

TEST_CASE("wasm hooks: an endless hook is stopped at the time limit, and the runner goes on") {
  wasm_hook_runner r(quick());
  auto err = error_of(r, module("loop"), "manifest");
  CHECK(err.find("exceeded the time limit of 300 ms") != std::string::npos);
  // The same thread serves the next call.
  auto id = module("identity");
  CHECK(run(r, id, "manifest", json::object{{"declarative_output", 7}}) ==
        json::object{{"declarative_output", 7}});
}

TEST_CASE("wasm hooks: memory is capped whatever the module declares") {
  auto grow = module("grow");
  wasm_hook_runner capped(quick());  // 64 MiB
  // 100 pages fit under the cap; 2,000 (125 MiB) do not, and the module traps on the refusal.
  CHECK(error_of(capped, grow, "prepare_metadata") == "");
  auto err = error_of(capped, grow, "manifest");
  CHECK(err.find("trapped") != std::string::npos);
  CHECK(err.find("64 MiB") != std::string::npos);
  // The same module with a larger cap succeeds: the cap, not the module, refused the growth.
  auto roomy = quick();
  roomy.max_memory_bytes = size_t{200} << 20;
  wasm_hook_runner large(roomy);
  CHECK(error_of(large, grow, "manifest") == "");
}

TEST_CASE("wasm hooks: results outside the memory, empty, or not UTF-8 JSON are errors") {
  wasm_hook_runner r(quick());
  auto bad = module("bad_results");
  CHECK(error_of(r, bad, "out_of_bounds").find("outside the module's memory") != std::string::npos);
  CHECK(error_of(r, bad, "empty").find("empty output") != std::string::npos);
  CHECK(error_of(r, bad, "invalid_json").find("invalid JSON") != std::string::npos);
  CHECK(error_of(r, bad, "invalid_utf8").find("invalid UTF-8") != std::string::npos);
  CHECK(error_of(r, bad, "nul_byte").find("NUL") != std::string::npos);
  // Valid JSON, but no event may hold an escaped NUL.
  CHECK(error_of(r, bad, "escaped_nul").find("NUL character") != std::string::npos);
  // One byte more than an event's data may hold.
  CHECK(error_of(r, module("huge_output"), "manifest").find("at most 16777216") !=
        std::string::npos);
  CHECK(error_of(r, bad, "wrong_type").find("does not return an i64") != std::string::npos);
  CHECK(error_of(r, bad, "missing").find("exports no function 'missing'") != std::string::npos);
  CHECK(error_of(r, bad, "Bad-Name").find("is not a hook name") != std::string::npos);
  // alloc answering outside the memory: the host writes nothing there.
  CHECK(error_of(r, module("alloc_out_of_bounds"), "manifest").find("alloc(") != std::string::npos);
}

TEST_CASE("wasm hooks: modules that import anything, or lack the ABI's exports, are refused") {
  wasm_hook_runner r(quick());
  auto why = r.check_module(module("imports_host"), {"manifest"});
  REQUIRE(why);
  CHECK(why->find("imports env.log (function)") != std::string::npos);
  // The call is refused too: an instance gets no imports.
  CHECK(error_of(r, module("imports_host"), "manifest").find("cannot be instantiated") !=
        std::string::npos);
  auto listed = r.check_module(module("identity"), {"manifest", "graph_patches", "other"});
  REQUIRE(listed);
  CHECK(listed->find("'other'") != std::string::npos);
  auto truncated = r.check_module(module("identity").substr(0, 9));
  REQUIRE(truncated);
  CHECK(truncated->find("truncated") != std::string::npos);
  CHECK(*r.check_module("not wasm at all") == "not a WebAssembly binary module (version 1)");
}

TEST_CASE("wasm hooks: the memory cap rewrites the declared maximum") {
  // (module (memory 1)) and (module (memory 2 10)), by hand.
  std::string header("\0asm\x01\0\0\0", 8);
  auto no_max = header + std::string("\x05\x03\x01\x00\x01", 5);
  auto capped = cap_wasm_memory(no_max, 4);
  CHECK(capped == header + std::string("\x05\x04\x01\x01\x01\x04", 6));
  auto with_max = header + std::string("\x05\x04\x01\x01\x02\x0a", 6);
  CHECK(cap_wasm_memory(with_max, 4) == header + std::string("\x05\x04\x01\x01\x02\x04", 6));
  CHECK(cap_wasm_memory(with_max, 100) == with_max);  // a maximum under the cap stays
  CHECK_THROWS_WITH_AS(cap_wasm_memory(with_max, 1), doctest::Contains("exceeds the cap"),
                       wasm_hook_error);
  CHECK_THROWS_AS(cap_wasm_memory(header + std::string("\x05\x09\x01", 3), 4), wasm_hook_error);
  CHECK_THROWS_AS(cap_wasm_memory(header + std::string("\x05\x02\x01\x03", 4), 4),
                  wasm_hook_error);  // shared memory
  CHECK_THROWS_AS(cap_wasm_memory("\0asm", 4), wasm_hook_error);
}

TEST_CASE("wasm hooks: calls from several threads each get their own answer") {
  wasm_hook_runner r(quick());
  auto id = module("identity");
  auto filter = module("metadata_filter");
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        json::value in = json::object{{"declarative_output", t * 100 + i}};
        if (t % 2 == 0) {
          if (run(r, id, "manifest", in) != in) ++wrong;
        } else {
          json::array rows{json::object{{"keep", true}, {"n", i}}, json::object{{"n", -i}}};
          auto out = run(r, filter, "prepare_metadata", json::object{{"declarative_output", rows}});
          if (out != json::array{rows[0]}) ++wrong;
        }
      }
    });
  for (auto& c : callers) c.join();
  CHECK(wrong == 0);
}
