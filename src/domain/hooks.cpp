#include "domain/hooks.hpp"

#include <algorithm>

#include "domain/canonical_json.hpp"
#include "domain/graph_prep.hpp"
#include "domain/redaction.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

constexpr size_t kErrorBytes = 1000;

bool is_hook_name(std::string_view h) {
  return h == kHookPrepareMetadata || h == kHookManifest || h == kHookGraphPatches;
}

events::hook_run record_of(const project_hooks& h, std::string_view hook, const hook_answer& a) {
  events::hook_run r;
  r.module_sha256 = h.module_sha256;
  r.hook = std::string(hook);
  r.duration_ms = std::max<int64_t>(0, a.duration_ms);
  if (!a.output) r.error = recorded_text(a.error, kErrorBytes);
  return r;
}

// Runs one manifest-shaped hook: its output (an object) is the new manifest.
std::optional<std::string> run_manifest_hook(const project_hooks& h, std::string_view hook,
                                             json::object envelope, json::object& manifest,
                                             std::vector<events::hook_run>& ran) {
  envelope["declarative_output"] = manifest;
  auto answer = h.call(std::string(hook), json::value(std::move(envelope)));
  auto r = record_of(h, hook, answer);
  if (answer.output && !answer.output->is_object())
    r.error = "hook '" + std::string(hook) + "' answered " +
              (answer.output->is_array()
                   ? "an array"
                   : "a JSON " + std::string(json::to_string(answer.output->kind()))) +
              "; a manifest is an object";
  auto error = r.error;
  ran.push_back(std::move(r));
  if (error) return "wasm error: " + *error;
  manifest = std::move(answer.output->as_object());
  return std::nullopt;
}

}  // namespace

bool project_hooks::has(std::string_view hook) const {
  return call && std::find(listed.begin(), listed.end(), hook) != listed.end();
}

json::array apply_prepare_metadata_hook(const project_hooks* hooks, json::array records,
                                        std::vector<events::hook_run>& ran) {
  if (!hooks || !hooks->has(kHookPrepareMetadata)) return records;
  auto answer =
      hooks->call(std::string(kHookPrepareMetadata), json::object{{"declarative_output", records}});
  auto r = record_of(*hooks, kHookPrepareMetadata, answer);
  json::array out;
  if (answer.output) {
    if (answer.output->is_array())
      out = std::move(answer.output->as_array());
    else
      out.push_back(std::move(*answer.output));
    for (size_t i = 0; i < out.size() && !r.error; ++i)
      if (!out[i].is_object())
        r.error =
            "hook 'prepare_metadata' answered a non-object record at index " + std::to_string(i);
  }
  r.fell_back = r.error.has_value();
  ran.push_back(std::move(r));
  return ran.back().fell_back ? std::move(records) : std::move(out);
}

Result<json::object> apply_manifest_hooks(const project_hooks* hooks, json::object manifest,
                                          const json::array& metadata, const ProjectConfig& config,
                                          std::vector<events::hook_run>& ran) {
  const auto& project = config.metadata.id;
  if (hooks && hooks->has(kHookManifest))
    if (auto e =
            run_manifest_hook(*hooks, kHookManifest,
                              {{"metadata", metadata}, {"project_id", project}}, manifest, ran))
      return DomainError{*e};
  apply_project_graph_patches(manifest, config.graph_patches);
  if (hooks && hooks->has(kHookGraphPatches))
    if (auto e =
            run_manifest_hook(*hooks, kHookGraphPatches, {{"project_id", project}}, manifest, ran))
      return DomainError{*e};
  return manifest;
}

std::vector<events::hook_run> decode_hook_runs(const json::value& v) {
  std::vector<events::hook_run> out;
  events::codec::path at{nullptr, "wasm_hooks"};
  events::codec::read(&v, &out, &at);
  if (out.size() > 8) throw events::decode_error("wasm_hooks", "has more than 8 hook runs");
  for (size_t i = 0; i < out.size(); ++i) {
    events::codec::path here{&at, {}, i};
    const auto& r = out[i];
    if (!is_lower_sha256_hex(r.module_sha256))
      throw events::decode_error(here.str() + ".module_sha256", "must be a lower-case SHA-256");
    if (!is_hook_name(r.hook))
      throw events::decode_error(here.str() + ".hook",
                                 "must be prepare_metadata, manifest or graph_patches");
    if (r.duration_ms < 0) throw events::decode_error(here.str() + ".duration_ms", "must be ≥ 0");
    if (r.error && r.error->size() > 2 * kErrorBytes)
      throw events::decode_error(here.str() + ".error", "is too long");
  }
  return out;
}

json::array hook_runs_json(const std::vector<events::hook_run>& ran) {
  json::array a;
  for (const auto& r : ran) a.push_back(events::codec::to_json(r));
  return a;
}

}  // namespace beampipe::domain
