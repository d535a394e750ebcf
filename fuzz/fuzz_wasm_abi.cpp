// libFuzzer target: the WebAssembly hook ABI boundary (issue #25, spec §5.9). Each input becomes
// a module whose `alloc` returns a fuzzed pointer, whose hook returns a fuzzed packed i64, and
// whose memory (1–3 pages) starts with fuzzed bytes; half the time the result points at those
// bytes, so they are what the host reads back as the hook's output. The module runs in the real
// runner, then through the domain's application of that hook.
// Invariants: run_hook answers parsed JSON or throws wasm_hook_error, nothing else; what it
// answers serialises and parses back the same; prepare_metadata always yields an array of
// objects and falls back exactly when it records an error; the manifest hooks yield an object or
// a "wasm error: …"; the recorded hook runs decode back as commands carry them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "adapters/wasm_hooks.hpp"
#include "domain/hooks.hpp"
#include "util/hash.hpp"

namespace {
namespace json = boost::json;
using beampipe::adapters::wasm_hook_error;
using beampipe::adapters::wasm_hook_runner;

void uleb(std::string& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(static_cast<char>(v ? b | 0x80 : b));
  } while (v);
}

void sleb(std::string& out, int64_t v) {
  bool more = true;
  while (more) {
    uint8_t b = v & 0x7f;
    v >>= 7;  // arithmetic shift
    more = !((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40)));
    out.push_back(static_cast<char>(more ? b | 0x80 : b));
  }
}

void section(std::string& module, uint8_t id, const std::string& body) {
  module.push_back(static_cast<char>(id));
  uleb(module, body.size());
  module += body;
}

void name(std::string& out, const std::string& s) {
  uleb(out, s.size());
  out += s;
}

// (memory pages) (func alloc (i32)->i32 (i32.const A)) (func hook (i32 i32)->i64 (i64.const R))
// (data (i32.const 0) bytes)
std::string module_of(const std::string& hook, int32_t alloc_ret, int64_t hook_ret, uint32_t pages,
                      const std::string& data) {
  std::string m("\0asm\x01\0\0\0", 8);
  section(m, 1, std::string("\x02\x60\x01\x7f\x01\x7f\x60\x02\x7f\x7f\x01\x7e", 12));
  section(m, 3, std::string("\x02\x00\x01", 3));
  std::string mem("\x01\x00", 2);
  uleb(mem, pages);
  section(m, 5, mem);
  std::string exports;
  uleb(exports, 3);
  name(exports, "memory");
  exports += std::string("\x02\x00", 2);
  name(exports, "alloc");
  exports += std::string("\x00\x00", 2);
  name(exports, hook);
  exports += std::string("\x00\x01", 2);
  section(m, 7, exports);
  std::string f0("\x00\x41", 2), f1("\x00\x42", 2);
  sleb(f0, alloc_ret);
  f0.push_back('\x0b');
  sleb(f1, hook_ret);
  f1.push_back('\x0b');
  std::string code;
  uleb(code, 2);
  uleb(code, f0.size());
  code += f0;
  uleb(code, f1.size());
  code += f1;
  section(m, 10, code);
  std::string seg("\x01\x00\x41\x00\x0b", 5);
  uleb(seg, data.size());
  seg += data;
  section(m, 11, seg);
  return m;
}

wasm_hook_runner& runner() {
  static wasm_hook_runner r([] {
    beampipe::adapters::wasm_limits l;
    l.max_memory_bytes = size_t{4} << 20;
    l.timeout = std::chrono::milliseconds(2000);
    l.threads = 1;
    return l;
  }());
  return r;
}

template <class T>
T take(const uint8_t*& p, size_t& n) {
  T v{};
  size_t k = n < sizeof v ? n : sizeof v;
  std::memcpy(&v, p, k);
  p += k;
  n -= k;
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace domain = beampipe::domain;
  static const char* kHooks[] = {"prepare_metadata", "manifest", "graph_patches"};
  auto alloc_ret = take<int32_t>(data, size);
  auto hook_ret = take<int64_t>(data, size);
  auto flags = take<uint8_t>(data, size);
  std::string hook = kHooks[flags % 3];
  uint32_t pages = 1 + (flags >> 2) % 3;
  std::string bytes(reinterpret_cast<const char*>(data), size < 8192 ? size : 8192);
  // Half the inputs answer exactly the fuzzed bytes, so the output checks see them.
  if (flags & 0x80) hook_ret = static_cast<int64_t>(uint64_t{bytes.size()} << 32);
  auto module = module_of(hook, alloc_ret, hook_ret, pages, bytes);
  auto sha = beampipe::util::sha256_hex(module);

  json::value input =
      json::object{{"declarative_output", json::array{json::object{{"sbid", "1"}}}}};
  std::optional<json::value> out;
  try {
    out = runner().run_hook(sha, module, hook, input);
  } catch (const wasm_hook_error&) {
  }
  if (out) {
    auto text = json::serialize(*out);
    if (json::parse(text) != *out) __builtin_trap();
  }

  domain::project_hooks hooks;
  hooks.module_sha256 = sha;
  hooks.listed = {hook};
  hooks.call = [&](const std::string& h, const json::value& in) {
    domain::hook_answer a;
    try {
      a.output = runner().run_hook(sha, module, h, in);
    } catch (const wasm_hook_error& e) {
      a.error = e.what();
    }
    return a;
  };
  std::vector<beampipe::events::hook_run> ran;
  if (hook == "prepare_metadata") {
    auto records =
        domain::apply_prepare_metadata_hook(&hooks, json::array{json::object{{"sbid", "1"}}}, ran);
    for (const auto& r : records)
      if (!r.is_object()) __builtin_trap();
    if (ran.size() != 1 || ran[0].fell_back != ran[0].error.has_value()) __builtin_trap();
  } else {
    domain::ProjectConfig config;
    config.metadata.id = "fuzz";
    auto m = domain::apply_manifest_hooks(&hooks, json::object{{"inputs", json::object{}}},
                                          json::array{}, config, ran);
    if (!m.ok() && m.error().rfind("wasm error: ", 0) != 0) __builtin_trap();
    if (ran.size() != 1 || ran[0].fell_back) __builtin_trap();
  }
  auto recorded = domain::hook_runs_json(ran);
  if (domain::hook_runs_json(domain::decode_hook_runs(recorded)) != recorded) __builtin_trap();
  return 0;
}
