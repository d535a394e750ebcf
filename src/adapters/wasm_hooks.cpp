#include "adapters/wasm_hooks.hpp"

// SpiderMonkey's headers are not warning-clean under this project's flags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <js/ArrayBuffer.h>
#include <js/CallAndConstruct.h>
#include <js/CompilationAndEvaluation.h>
#include <js/Context.h>
#include <js/Conversions.h>
#include <js/Exception.h>
#include <js/GlobalObject.h>
#include <js/Initialization.h>
#include <js/Interrupt.h>
#include <js/SourceText.h>
#include <js/String.h>
#include <jsapi.h>
#pragma GCC diagnostic pop

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace beampipe::adapters {
namespace json = boost::json;

// ------------------------------------------------------------------ the memory cap (pure)

namespace {

struct wasm_reader {
  std::string_view bytes;
  size_t at = 0;
  uint32_t u32() {
    uint64_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (at >= bytes.size()) throw wasm_hook_error("the module is truncated");
      auto b = static_cast<uint8_t>(bytes[at++]);
      v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) {
        if (v > 0xffffffffu) break;
        return static_cast<uint32_t>(v);
      }
    }
    throw wasm_hook_error("the module has a malformed LEB128 number");
  }
};

void put_u32(std::string& out, uint32_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
}

}  // namespace

std::string cap_wasm_memory(std::string_view module, uint32_t max_pages) {
  static constexpr std::string_view kHeader("\0asm\x01\0\0\0", 8);
  if (module.size() < 8 || module.substr(0, 8) != kHeader)
    throw wasm_hook_error("not a WebAssembly binary module (version 1)");
  std::string out(module.substr(0, 8));
  wasm_reader r{module, 8};
  while (r.at < module.size()) {
    auto id = static_cast<uint8_t>(module[r.at++]);
    auto size = r.u32();
    if (size > module.size() - r.at) throw wasm_hook_error("the module is truncated");
    auto payload = module.substr(r.at, size);
    r.at += size;
    out.push_back(static_cast<char>(id));
    if (id != 5) {  // not the memory section: copied as it is
      put_u32(out, size);
      out.append(payload);
      continue;
    }
    wasm_reader m{payload};
    std::string capped;
    auto count = m.u32();
    put_u32(capped, count);
    for (uint32_t i = 0; i < count; ++i) {
      auto flags = m.u32();
      if (flags > 1)
        throw wasm_hook_error(
            "the module declares a shared or 64-bit memory; hooks take one "
            "plain 32-bit memory");
      auto min = m.u32();
      auto max = flags == 1 ? m.u32() : max_pages;
      if (min > max_pages)
        throw wasm_hook_error("the module's initial memory (" + std::to_string(min) +
                              " pages of 64 KiB) exceeds the cap of " + std::to_string(max_pages) +
                              " pages (BEAMPIPE_WASM_MAX_MEMORY_MB)");
      put_u32(capped, 1);
      put_u32(capped, min);
      put_u32(capped, std::min(max, max_pages));
    }
    if (m.at != payload.size()) throw wasm_hook_error("the module's memory section is malformed");
    put_u32(out, static_cast<uint32_t>(capped.size()));
    out += capped;
  }
  return out;
}

// ------------------------------------------------------------------ the runner

namespace {

// The host side of the ABI, in JavaScript: it runs trusted in each thread's global and touches
// the module only through the WebAssembly API. Errors come back as strings starting with "E";
// "M" asks for the module's bytes (not compiled on this thread yet).
constexpr const char* kDriver = R"JS(
(function () {
  const modules = new Map();
  const fail = (msg) => "E" + msg;
  const text = (err) => String(err && err.message !== undefined ? err.message : err);
  globalThis.beampipe_run = function (sha, bytes, hook, input) {
    let e;
    try {
      let m = modules.get(sha);
      if (m === undefined) {
        if (bytes === null) return "M";
        m = new WebAssembly.Module(bytes);
        if (modules.size >= 16) modules.clear();
        modules.set(sha, m);
      }
      e = new WebAssembly.Instance(m, {}).exports;
    } catch (err) {
      return fail("the module cannot be instantiated: " + text(err));
    }
    try {
      if (!(e.memory instanceof WebAssembly.Memory)) return fail("the module exports no memory");
      if (typeof e.alloc !== "function") return fail("the module exports no function 'alloc'");
      if (typeof e[hook] !== "function")
        return fail("the module exports no function '" + hook + "'");
      const n = input.byteLength;
      const ptr = e.alloc(n) >>> 0;
      let mem = e.memory.buffer;
      if (ptr + n > mem.byteLength)
        return fail("alloc(" + n + ") returned " + ptr + ", outside the module's memory of " +
                    mem.byteLength + " bytes");
      new Uint8Array(mem, ptr, n).set(new Uint8Array(input));
      const r = e[hook](ptr, n);
      if (typeof r !== "bigint") return fail("hook '" + hook + "' does not return an i64");
      const outPtr = Number(BigInt.asUintN(32, r));
      const outLen = Number(BigInt.asUintN(32, r >> 32n));
      mem = e.memory.buffer;  // the hook may have grown it
      if (outLen === 0) return fail("hook '" + hook + "' returned an empty output");
      if (outPtr + outLen > mem.byteLength)
        return fail("hook '" + hook + "' returned " + outLen + " bytes at " + outPtr +
                    ", outside the module's memory of " + mem.byteLength + " bytes");
      return mem.slice(outPtr, outPtr + outLen);
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError)
        return fail("hook '" + hook + "' trapped: " + text(err));
      return fail("hook '" + hook + "' failed: " + text(err));
    }
  };
  globalThis.beampipe_check = function (bytes, hooks, abi) {
    let m;
    try {
      m = new WebAssembly.Module(bytes);
    } catch (err) {
      return "the module does not compile: " + text(err);
    }
    const imports = WebAssembly.Module.imports(m);
    if (imports.length > 0)
      return "the module imports " +
             imports.slice(0, 5).map((i) => i.module + "." + i.name + " (" + i.kind + ")").join(", ") +
             "; hooks run without imports (no WASI, no host functions)";
    if (!abi) return "";
    const kinds = new Map(WebAssembly.Module.exports(m).map((x) => [x.name, x.kind]));
    if (kinds.get("memory") !== "memory") return "the module exports no memory named 'memory'";
    if (kinds.get("alloc") !== "function") return "the module exports no function 'alloc'";
    for (const h of hooks.split(",").filter((h) => h.length > 0))
      if (kinds.get(h) !== "function")
        return "the module exports no function '" + h + "' (listed in extension.hooks)";
    return "";
  };
})();
)JS";

const JSClass kGlobalClass = {
    "beampipe_hooks", JSCLASS_GLOBAL_FLAGS, &JS::DefaultGlobalClassOps, nullptr, nullptr, nullptr};

std::once_flag js_init_once;
bool js_ready = false;
std::atomic<int> js_contexts{0};  // alive; JS_ShutDown only when none is

std::atomic<bool> js_exiting{false};

// SpiderMonkey must be shut down before its library's own static destructors run (they assert
// on mutexes JS_Init set up); exit handlers run before them. A runner that outlives this
// handler (a static one made before the first call initialised SpiderMonkey) shuts it down
// when it ends instead.
void js_shutdown() {
  js_exiting = true;
  if (js_ready && js_contexts.load() == 0) {
    js_ready = false;
    JS_ShutDown();
  }
}

struct call_result {
  bool ok = false;
  std::string bytes;  // the output, or the error
};

struct job {
  enum class kind { run, check } what = kind::run;
  std::string sha256;
  std::string module;  // capped bytes
  std::string hook;    // run: the hook; check: the listed hooks, comma-separated
  std::string input;
  bool abi = true;  // check: require the ABI's exports
  std::promise<call_result> done;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct wasm_hook_runner::impl {
  struct worker {
    std::thread thread;
    std::atomic<JSContext*> cx{nullptr};
    std::atomic<int64_t> deadline_ns{0};  // 0: idle
    std::atomic<bool> timed_out{false};
  };

  wasm_limits limits;
  std::mutex mu;
  std::condition_variable cv;  // jobs queued, or stopping
  std::deque<std::shared_ptr<job>> queue;
  bool stopping = false;
  std::vector<std::unique_ptr<worker>> workers;
  std::thread watchdog;
  std::condition_variable watchdog_cv;
  std::once_flag started;

  explicit impl(wasm_limits l) : limits(l) {}

  void start() {
    std::call_once(js_init_once, [] {
      js_ready = JS_Init();
      if (!js_ready)
        spdlog::error("wasm: SpiderMonkey failed to initialise");
      else
        std::atexit(js_shutdown);
    });
    if (!js_ready) return;
    for (size_t i = 0; i < std::max<size_t>(1, limits.threads); ++i) {
      workers.push_back(std::make_unique<worker>());
      auto* w = workers.back().get();
      w->thread = std::thread([this, w] { serve(*w); });
    }
    watchdog = std::thread([this] { watch(); });
  }

  ~impl() {
    {
      std::lock_guard lk(mu);
      stopping = true;
    }
    cv.notify_all();
    watchdog_cv.notify_all();
    for (auto& w : workers)
      if (w->thread.joinable()) w->thread.join();
    if (watchdog.joinable()) watchdog.join();
    if (js_exiting) js_shutdown();
  }

  // Interrupts calls past their deadline. JS_RequestInterruptCallback is the one JSAPI call
  // meant for another thread; the callback, on the worker, decides.
  void watch() {
    std::unique_lock lk(mu);
    while (!stopping) {
      // Idle until a call starts (a worker sets its deadline under `mu` and wakes us), then
      // every 10 ms while any runs.
      bool busy = false;
      for (auto& w : workers) busy = busy || w->deadline_ns.load() != 0;
      if (busy)
        watchdog_cv.wait_for(lk, std::chrono::milliseconds(10));
      else
        watchdog_cv.wait(lk);
      auto now = now_ns();
      for (auto& w : workers) {
        auto d = w->deadline_ns.load();
        auto* cx = w->cx.load();
        if (d != 0 && now > d && cx) JS_RequestInterruptCallback(cx);
      }
    }
  }

  static bool on_interrupt(JSContext* cx) {
    auto* w = static_cast<worker*>(JS_GetContextPrivate(cx));
    auto d = w->deadline_ns.load();
    if (d != 0 && now_ns() > d) {
      w->timed_out = true;
      return false;  // ends the call; it cannot be caught inside it
    }
    return true;
  }

  void serve(worker& w) {
    // The JS heap holds the driver, compiled modules and per-call objects; the modules'
    // linear memories are capped separately (they live outside it).
    auto heap = std::min<size_t>(limits.max_memory_bytes + (size_t{64} << 20), size_t{1} << 31);
    ++js_contexts;
    JSContext* cx = JS_NewContext(static_cast<uint32_t>(heap));
    if (!cx || !JS::InitSelfHostedCode(cx)) {
      spdlog::error("wasm: cannot create a SpiderMonkey context");
      if (cx) JS_DestroyContext(cx);
      --js_contexts;
      fail_all();
      return;
    }
    JS_SetContextPrivate(cx, &w);
    JS_AddInterruptCallback(cx, &impl::on_interrupt);
    {
      JS::RealmOptions options;
      JS::RootedObject global(
          cx, JS_NewGlobalObject(cx, &kGlobalClass, nullptr, JS::FireOnNewGlobalHook, options));
      if (!global) {
        JS_DestroyContext(cx);
        --js_contexts;
        fail_all();
        return;
      }
      JSAutoRealm realm(cx, global);
      JS::CompileOptions opts(cx);
      opts.setFileAndLine("beampipe-hooks.js", 1);
      JS::SourceText<mozilla::Utf8Unit> src;
      JS::RootedValue ignored(cx);
      if (!JS::InitRealmStandardClasses(cx) ||
          !src.init(cx, kDriver, std::strlen(kDriver), JS::SourceOwnership::Borrowed) ||
          !JS::Evaluate(cx, opts, src, &ignored)) {
        spdlog::error("wasm: the hook driver did not load: {}", pending_error(cx));
        JS_DestroyContext(cx);
        --js_contexts;
        fail_all();
        return;
      }
      w.cx = cx;
      std::set<std::string> compiled;  // what this thread's driver has cached (by SHA-256)
      for (;;) {
        std::shared_ptr<job> j;
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return stopping || !queue.empty(); });
          if (stopping && queue.empty()) break;
          j = std::move(queue.front());
          queue.pop_front();
          w.timed_out = false;
          w.deadline_ns =
              now_ns() +
              std::chrono::duration_cast<std::chrono::nanoseconds>(limits.timeout).count();
        }
        watchdog_cv.notify_one();
        call_result res;
        try {
          res = j->what == job::kind::check ? check(cx, global, *j)
                                            : run(cx, global, w, *j, compiled);
        } catch (const std::exception& e) {
          res = {false, e.what()};
        }
        w.deadline_ns = 0;
        j->done.set_value(std::move(res));
        JS_MaybeGC(cx);
      }
      w.cx = nullptr;
    }
    JS_DestroyContext(cx);
    --js_contexts;
  }

  void fail_all() {
    std::lock_guard lk(mu);
    while (!queue.empty()) {
      queue.front()->done.set_value({false, "the WebAssembly runtime is not available"});
      queue.pop_front();
    }
    stopping = true;
  }

  static std::string pending_error(JSContext* cx) {
    if (!JS_IsExceptionPending(cx)) return "no exception";
    JS::RootedValue exn(cx);
    JS_GetPendingException(cx, &exn);
    JS_ClearPendingException(cx);
    JS::RootedString s(cx, JS::ToString(cx, exn));
    if (!s) {
      JS_ClearPendingException(cx);
      return "an exception that has no text";
    }
    auto chars = JS_EncodeStringToUTF8(cx, s);
    return chars ? std::string(chars.get()) : std::string("an exception that has no text");
  }

  static JSObject* array_buffer(JSContext* cx, const std::string& bytes) {
    JS::RootedObject buf(cx, JS::NewArrayBuffer(cx, bytes.size()));
    if (!buf) return nullptr;
    bool shared = false;
    JS::AutoCheckCannotGC nogc;
    auto* data = JS::GetArrayBufferData(buf, &shared, nogc);
    if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
    return buf;
  }

  // The call ended without an answer: the watchdog stopped it, or the engine ran out of
  // memory (its heap limit) or hit an internal error.
  std::string stopped(JSContext* cx, const worker& w, const std::string& what) const {
    if (w.timed_out)
      return what + " exceeded the time limit of " + std::to_string(limits.timeout.count()) +
             " ms (BEAMPIPE_WASM_TIMEOUT_MS) and was stopped";
    if (JS_IsExceptionPending(cx)) return what + " failed: " + pending_error(cx);
    return what + " was stopped (out of memory)";
  }

  call_result run(JSContext* cx, JS::HandleObject global, worker& w, job& j,
                  std::set<std::string>& compiled) {
    std::string what = "hook '" + j.hook + "'";
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool send_bytes = !compiled.count(j.sha256) || attempt > 0;
      JS::RootedValueArray<4> args(cx);
      JS::RootedString sha(cx, JS_NewStringCopyN(cx, j.sha256.data(), j.sha256.size()));
      JS::RootedString hook(cx, JS_NewStringCopyN(cx, j.hook.data(), j.hook.size()));
      JS::RootedObject input(cx, array_buffer(cx, j.input));
      JS::RootedObject bytes(cx, send_bytes ? array_buffer(cx, j.module) : nullptr);
      if (!sha || !hook || !input || (send_bytes && !bytes)) return {false, stopped(cx, w, what)};
      args[0].setString(sha);
      args[1].setObjectOrNull(bytes);
      args[2].setString(hook);
      args[3].setObject(*input);
      JS::RootedValue out(cx);
      if (!JS_CallFunctionName(cx, global, "beampipe_run", args, &out))
        return {false, stopped(cx, w, what)};
      if (send_bytes) compiled.insert(j.sha256);
      if (out.isString()) {
        JS::RootedString s(cx, out.toString());
        auto chars = JS_EncodeStringToUTF8(cx, s);
        std::string msg = chars ? chars.get() : "E" + what + " failed";
        if (msg == "M") {
          compiled.erase(j.sha256);  // the driver's cache let it go
          continue;
        }
        return {false, msg.substr(1)};
      }
      if (!out.isObject() || !JS::IsArrayBufferObject(&out.toObject()))
        return {false, what + " gave no output"};
      size_t len = 0;
      bool shared = false;
      uint8_t* data = nullptr;
      JS::GetArrayBufferLengthAndData(&out.toObject(), &len, &shared, &data);
      return {true, std::string(reinterpret_cast<const char*>(data), len)};
    }
    return {false, what + " could not be compiled"};
  }

  call_result check(JSContext* cx, JS::HandleObject global, job& j) {
    JS::RootedValueArray<3> args(cx);
    JS::RootedObject bytes(cx, array_buffer(cx, j.module));
    JS::RootedString hooks(cx, JS_NewStringCopyN(cx, j.hook.data(), j.hook.size()));
    if (!bytes || !hooks) return {false, "the module could not be checked (out of memory)"};
    args[0].setObject(*bytes);
    args[1].setString(hooks);
    args[2].setBoolean(j.abi);
    JS::RootedValue out(cx);
    if (!JS_CallFunctionName(cx, global, "beampipe_check", args, &out) || !out.isString())
      return {false, "the module could not be checked: " + pending_error(cx)};
    JS::RootedString s(cx, out.toString());
    auto chars = JS_EncodeStringToUTF8(cx, s);
    std::string msg = chars ? chars.get() : "the module could not be checked";
    return {msg.empty(), msg};
  }

  call_result submit(std::shared_ptr<job> j) {
    std::call_once(started, [this] { start(); });
    auto fut = j->done.get_future();
    {
      std::lock_guard lk(mu);
      if (stopping) return {false, "the WebAssembly runtime is not available"};
      queue.push_back(std::move(j));
    }
    cv.notify_one();
    // The watchdog bounds the call; this bounds the queue and a runtime that stopped answering.
    auto bound = limits.timeout * (queue_depth_hint() + 2) + std::chrono::seconds(10);
    if (fut.wait_for(bound) != std::future_status::ready)
      return {false, "the WebAssembly runtime did not answer in time"};
    return fut.get();
  }

  size_t queue_depth_hint() {
    std::lock_guard lk(mu);
    return queue.size() / std::max<size_t>(1, workers.size()) + 1;
  }
};

wasm_hook_runner::wasm_hook_runner(wasm_limits limits) : impl_(std::make_unique<impl>(limits)) {}
wasm_hook_runner::~wasm_hook_runner() = default;

const wasm_limits& wasm_hook_runner::limits() const { return impl_->limits; }

namespace {
uint32_t cap_pages(const wasm_limits& l) {
  return static_cast<uint32_t>(std::max<size_t>(1, l.max_memory_bytes / kWasmPageBytes));
}

bool valid_hook_name(const std::string& h) {
  if (h.empty() || h.size() > 64) return false;
  for (char c : h)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return !std::isdigit(static_cast<unsigned char>(h[0]));
}
}  // namespace

namespace {
bool has_nul(const json::value& v) {
  if (v.is_string()) return v.get_string().find('\0') != json::string::npos;
  if (v.is_array())
    for (const auto& x : v.get_array())
      if (has_nul(x)) return true;
  if (v.is_object())
    for (const auto& kv : v.get_object())
      if (kv.key().find('\0') != std::string_view::npos || has_nul(kv.value())) return true;
  return false;
}
}  // namespace

json::value wasm_hook_runner::run_hook(const std::string& module_sha256, const std::string& module,
                                       const std::string& hook, const json::value& input) {
  if (!valid_hook_name(hook))
    throw wasm_hook_error("'" + hook + "' is not a hook name (lower-case letters, digits, _)");
  auto j = std::make_shared<job>();
  j->what = job::kind::run;
  j->sha256 = module_sha256;
  j->module = cap_wasm_memory(module, cap_pages(impl_->limits));
  j->hook = hook;
  j->input = json::serialize(input);
  auto res = impl_->submit(j);
  if (!res.ok) {
    // A failed memory.grow is the usual way a module meets the cap: say where it is.
    if (res.bytes.find("' trapped: ") != std::string::npos)
      res.bytes += " (memory is capped at " + std::to_string(impl_->limits.max_memory_bytes >> 20) +
                   " MiB, BEAMPIPE_WASM_MAX_MEMORY_MB)";
    throw wasm_hook_error(res.bytes);
  }
  const auto& out = res.bytes;
  // What a hook answers ends up in an event, whose data the store caps at 16 MiB.
  if (out.size() > kMaxHookOutputBytes)
    throw wasm_hook_error("hook '" + hook + "' returned " + std::to_string(out.size()) +
                          " bytes; at most " + std::to_string(kMaxHookOutputBytes) + " are taken");
  for (size_t i = 0; i < out.size();) {
    if (out[i] == '\0')
      throw wasm_hook_error("hook '" + hook + "' returned a NUL byte (at byte " +
                            std::to_string(i) + ")");
    auto n = util::utf8_sequence_length(out, i);
    if (n == 0)
      throw wasm_hook_error("hook '" + hook + "' returned invalid UTF-8 (at byte " +
                            std::to_string(i) + ")");
    i += n;
  }
  std::string why;
  auto parsed = util::parse_json(out, &why);
  if (!parsed) throw wasm_hook_error("hook '" + hook + "' returned invalid JSON: " + why);
  // An escaped \u0000 passes the byte check but no event may hold it (PostgreSQL's jsonb
  // refuses it): refused here, so the hook's error is recorded rather than its answer bounced.
  if (has_nul(*parsed))
    throw wasm_hook_error("hook '" + hook + "' returned a NUL character (\\u0000) in a string");
  return std::move(*parsed);
}

std::optional<std::string> wasm_hook_runner::check_module(const std::string& module,
                                                          const std::vector<std::string>& hooks,
                                                          bool abi) {
  std::string listed;
  for (const auto& h : hooks) {
    if (!valid_hook_name(h)) return "'" + h + "' is not a hook name";
    listed += (listed.empty() ? "" : ",") + h;
  }
  auto j = std::make_shared<job>();
  j->what = job::kind::check;
  try {
    j->module = cap_wasm_memory(module, cap_pages(impl_->limits));
  } catch (const wasm_hook_error& e) {
    return std::string(e.what());
  }
  j->hook = listed;
  j->abi = abi;
  auto res = impl_->submit(j);
  if (res.ok) return std::nullopt;
  return res.bytes;
}

}  // namespace beampipe::adapters
