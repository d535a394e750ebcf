#include "domain/discovery_run.hpp"

#include "domain/templates.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {
constexpr const char* kEvalFileQuery = "sbid_to_eval_file";  // [HEAD]: special per-SBID enrichment
}

discovery_run_result run_discovery(const ProjectConfig& config,
                                   const std::string& source_identifier,
                                   const std::string& stored_signature,
                                   const std::map<std::string, json::value>& stored_rows,
                                   const archive_query& query, const project_hooks* hooks) {
  discovery_run_result out;
  auto fail = [&](std::string message, bool retryable) {
    out.outcome = discovery_run_result::kind::failed;
    out.failure = archive_failure{std::move(message), retryable};
    return out;
  };
  const auto& queries = config.discovery.queries;
  if (queries.empty()) return fail("project config has no discovery queries", false);

  auto base = build_template_context(source_identifier, config);
  // 2. Primary query.
  const auto& primary = queries.front();
  auto answer = query(primary.adapter,
                      render_template(primary.template_text,
                                      context_for_query(base, primary, source_identifier, config)));
  if (answer.failure) {
    auto f = *answer.failure;
    return fail("query '" + primary.name + "' failed: " + f.message, f.retryable);
  }
  const auto primary_rows = answer.rows->rows;
  out.truncated = answer.rows->truncated;

  // 3. Secondary queries: a failure leaves an empty enrichment, never fails the source.
  Enrichments enrichments;
  for (size_t i = 1; i < queries.size(); ++i) {
    const auto& q = queries[i];
    auto a = query(
        q.adapter,
        render_template(q.template_text, context_for_query(base, q, source_identifier, config)));
    if (a.failure) {
      out.warnings.push_back("query '" + q.name + "' failed: " + a.failure->message);
      enrichments[q.name] = json::array{};
    } else {
      out.truncated = out.truncated || a.rows->truncated;
      enrichments[q.name] = a.rows->rows;
    }
  }

  if (primary_rows.empty()) {
    // No datasets: a single marker row; unchanged when that is what is stored already.
    out.signature = no_datasets_signature();
    out.outcome = stored_signature == out.signature ? discovery_run_result::kind::unchanged
                                                    : discovery_run_result::kind::no_datasets;
    if (out.outcome == discovery_run_result::kind::no_datasets) {
      out.rows[std::string(kNoDatasetsSbid)] = no_datasets_row();
      for (const auto& [sbid, _] : stored_rows)
        if (sbid != kNoDatasetsSbid) out.delete_sbids.push_back(sbid);
    }
    return out;
  }

  // 4–5. Per-SBID enrichments.
  auto sbids = sbids_from_primary_rows(primary_rows, config);
  for (const auto& q : config.discovery.enrichments) {
    json::object by_sbid;
    for (const auto& sbid : sbids) {
      auto a = query(q.adapter, render_template(q.template_text, context_with_sbid(base, sbid)));
      if (q.name == kEvalFileQuery) {
        if (a.failure)
          return fail("query '" + q.name + "' failed for SBID " + sbid + ": " + a.failure->message,
                      a.failure->retryable);
        auto picked = select_calibration_row(a.rows->rows, sbid);
        if (!picked) return fail(picked.error(), false);
        by_sbid[sbid] = picked.value();
        continue;
      }
      if (a.failure) {
        out.warnings.push_back("enrichment '" + q.name + "' failed for SBID " + sbid + ": " +
                               a.failure->message);
        continue;
      }
      if (!a.rows->rows.empty()) by_sbid[sbid] = a.rows->rows.front();
    }
    enrichments[q.name] = std::move(by_sbid);
  }

  // 6–7 and the §5.8 decision.
  auto prepared = prepare_discovery(source_identifier, primary_rows, enrichments, config);
  // 8. The project's prepare_metadata hook; the signature is of what it answered.
  prepared.records =
      apply_prepare_metadata_hook(hooks, std::move(prepared.records), out.wasm_hooks);
  if (!out.wasm_hooks.empty() && out.wasm_hooks.back().fell_back)
    out.warnings.push_back("prepare_metadata hook failed, the declarative records are kept: " +
                           out.wasm_hooks.back().error.value_or(""));
  auto decision =
      decide_discovery(prepared, stored_signature, stored_rows, signature_options(config));
  out.signature = decision.signature;
  out.flags = prepared.flags;
  out.datasets = decision.datasets;
  out.outcome = decision.changed ? discovery_run_result::kind::changed
                                 : discovery_run_result::kind::unchanged;
  // A hook may keep no record at all: that is no datasets, as an empty archive answer is.
  if (decision.changed && decision.no_datasets)
    out.outcome = discovery_run_result::kind::no_datasets;
  if (decision.changed) {
    out.rows = std::move(decision.rows);
    out.delete_sbids = std::move(decision.delete_sbids);
  }
  return out;
}

}  // namespace beampipe::domain
