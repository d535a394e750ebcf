#pragma once
// Checks that uploaded bytes are a valid WebAssembly module, with WABT's `wasm-validate`
// (Debian package wabt): the module is decoded and type-checked, not just sniffed.
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::adapters {

// nullopt: valid. Otherwise the validator's first diagnostic. Throws std::runtime_error when the
// validator cannot run (not installed), which is the server's problem, not the module's.
std::optional<std::string> wasm_module_error(std::string_view bytes,
                                             const std::string& validator = "wasm-validate");

}  // namespace beampipe::adapters
