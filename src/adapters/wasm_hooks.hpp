#pragma once
// Runs a project's WebAssembly hooks (spec §5.9) in SpiderMonkey (Debian libmozjs-102).
//
// ABI: the module exports `memory`, `alloc(i32) -> i32` and `<hook>(ptr, len) -> i64`; the host
// copies UTF-8 JSON into the memory `alloc` returned, and the hook answers with its output's
// length in the high 32 bits and its pointer in the low 32. Every call gets a fresh instance
// of a module compiled once per SHA-256 (per runner thread), with no imports at all: no WASI,
// no host functions, so no filesystem, network or clock. Memory is capped by rewriting the
// module's declared maximum; time by interrupting the call from a watchdog.
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::adapters {

// Why a hook produced no usable output. The message is what runs record ("wasm error: …").
struct wasm_hook_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct wasm_limits {
  size_t max_memory_bytes = size_t{64} << 20;  // BEAMPIPE_WASM_MAX_MEMORY_MB
  std::chrono::milliseconds timeout{2000};     // BEAMPIPE_WASM_TIMEOUT_MS
  size_t threads = 2;                          // calls that may run at once
};

inline constexpr size_t kWasmPageBytes = 65536;
// The largest output a hook may answer (an event's data is at most 16 MiB).
inline constexpr size_t kMaxHookOutputBytes = size_t{16} << 20;

// The module's bytes with every memory it defines given a maximum of at most `max_pages`
// (a module without a maximum gets `max_pages`). Throws wasm_hook_error for a module that is
// not a WebAssembly binary, whose initial memory already exceeds the cap, or that declares a
// shared or 64-bit memory. Pure: no I/O.
std::string cap_wasm_memory(std::string_view module, uint32_t max_pages);

class wasm_hook_runner {
 public:
  explicit wasm_hook_runner(wasm_limits limits = {});
  ~wasm_hook_runner();
  wasm_hook_runner(const wasm_hook_runner&) = delete;
  wasm_hook_runner& operator=(const wasm_hook_runner&) = delete;

  // Runs `hook` of the module on `input` (serialised as JSON) and returns its output parsed.
  // The call runs on the runner's own threads, never the caller's (CAF's scheduler stays
  // free); the caller blocks until it ends, which the time limit bounds.
  boost::json::value run_hook(const std::string& module_sha256, const std::string& module,
                              const std::string& hook, const boost::json::value& input);

  // Why the module cannot serve hooks (it does not compile, imports something, or its initial
  // memory exceeds the cap; with `abi`, also: it lacks `memory` or `alloc`, or a listed hook is
  // not an exported function), or nullopt. Compiles it; does not run it.
  std::optional<std::string> check_module(const std::string& module,
                                          const std::vector<std::string>& hooks = {},
                                          bool abi = true);

  const wasm_limits& limits() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::adapters
