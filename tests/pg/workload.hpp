#pragma once
// A random but valid history for the PostgreSQL tests: the real aggregates' deciders, driven
// with random commands, give the events the runtime would append.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <optional>
#include <random>

#include "domain/aggregates.hpp"
#include "events/catalog.hpp"
#include "events/types.hpp"
#include "store/event_store.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/time.hpp"

namespace beampipe::test {
namespace json = boost::json;
namespace et = beampipe::events::type;
using store::expected_version;

// An event as the runtime appends it: at the version its struct is written at.
inline events::new_event make_event(const std::string& type, const json::object& data) {
  events::pending_event pe{type, data};
  REQUIRE(events::prepare_append(pe).empty());
  return {util::uuid_v7(), type, pe.schema_version, json::serialize(data),
          "{\"actor\":\"test\",\"correlation_id\":\"c-1\"}"};
}

// Drives the real aggregates' deciders to produce valid event streams.
struct workload {
  std::mt19937 rng{12345};
  std::vector<std::pair<std::string, json::object>> sources;     // stream, state
  std::vector<std::pair<std::string, json::object>> executions;  // stream, state
  std::map<std::string, int64_t> versions;

  json::object profiles = domain::profile_registry_aggregate().initial();
  std::map<std::string, json::object> projects;
  std::map<std::string, json::object> users;
  std::map<std::string, json::object> workers;  // stream, state
  json::object maintenance = domain::maintenance_aggregate().initial();
  std::mt19937 worker_rng{2112};
  int64_t turn = 0;
  std::vector<std::pair<std::string, json::object>> sessions;  // stream, state
  json::object channels = domain::channel_registry_aggregate().initial();
  std::vector<std::pair<std::string, json::object>> rules;       // stream, state
  std::vector<std::pair<std::string, json::object>> deliveries;  // stream, state
  int64_t alert_minutes = 0;  // the clock rules fire by, advancing
  std::string config_text = [] {
    std::ifstream f(std::string(BEAMPIPE_REFERENCE_DIR) + "/minimal_survey.v1.yaml");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();

  std::optional<store::append_request> next() {
    std::uniform_int_distribution<int> pick(0, 14);
    // Every 25th command is a worker's, drawn from its own generator: the other streams' commands
    // stay the sequence they always were.
    ++turn;
    int k = turn % 25 == 0 ? -1 : (turn % 499 == 0 ? -2 : pick(rng));
    domain::command cmd;
    cmd.new_id = util::uuid_v7();
    cmd.actor = "system:test";
    std::string stream;
    json::object* state = nullptr;
    const domain::aggregate_kind* kind = nullptr;
    if (k == -2) {
      // Provenance retention: rows older than now go (of the WALLABY project, or all).
      stream = domain::kMaintenanceStream;
      state = &maintenance;
      kind = &domain::maintenance_aggregate();
      cmd.name = "purge_provenance";
      auto now = util::now_rfc3339();
      cmd.body = {{"before", now}, {"requested_at", now}};
      if (worker_rng() % 2) cmd.body["project_module"] = "wallaby_hires";
    } else if (k < 0) {
      // Workers: drained and resumed (a repeat of either records nothing).
      auto id = "node-" + std::to_string(worker_rng() % 6);
      stream = domain::worker_stream_id(id);
      state = &workers.try_emplace(stream, domain::worker_aggregate().initial()).first->second;
      kind = &domain::worker_aggregate();
      cmd.name = worker_rng() % 2 ? "drain" : "resume";
      cmd.body = {{"worker_id", id}, {"reason", "r" + std::to_string(worker_rng() % 3)}};
    } else if (k == 9 && rng() % 3 == 0) {
      // Alerting: channels, rules (created, patched, fired, deleted) and delivery attempts.
      const auto& known = channels.at("channels").as_array();  // [{uuid, name, ...}]
      int op = static_cast<int>(rng() % 6);
      if (op == 0 || known.empty()) {
        stream = domain::kChannelRegistryStream;
        state = &channels;
        kind = &domain::channel_registry_aggregate();
        if (known.empty() || rng() % 3) {
          cmd.name = "create";
          cmd.body = {{"uuid", util::uuid_v7()},
                      {"name", "c" + std::to_string(rng() % 12)},
                      {"kind", "webhook"},
                      {"config", json::object{{"url", "https://hooks.example.org/***"},
                                              {"template", "generic"}}}};
        } else {
          cmd.body = {{"uuid", known[rng() % known.size()].as_object().at("uuid")}};
          cmd.name = rng() % 3 ? "update" : "delete";
          if (cmd.name == "update") cmd.body["enabled"] = rng() % 2 == 0;
        }
      } else if (op <= 3 || deliveries.empty()) {
        if (rules.empty() || rng() % 4 == 0) {
          auto id = util::uuid_v7();
          rules.emplace_back(domain::alert_rule_stream_id(id),
                             domain::alert_rule_aggregate().initial());
          cmd.name = "create";
          json::array chans;
          for (const auto& ch : known)
            if (rng() % 2) chans.push_back(ch.as_object().at("uuid"));
          cmd.body = {
              {"uuid", id},
              {"name", "r" + std::to_string(rng() % 9)},
              {"trigger_kind", rng() % 2 ? "execution_terminal" : "pending_backlog"},
              {"trigger_config", json::object{}},
              {"channel_ids", std::move(chans)},
              {"cooldown_minutes", int64_t(rng() % 3)},
              {"project_module", rng() % 2 ? json::value("wallaby_hires") : json::value(nullptr)}};
        }
        auto& p = cmd.name == "create" ? rules.back() : rules[rng() % rules.size()];
        stream = p.first;
        state = &p.second;
        kind = &domain::alert_rule_aggregate();
        if (cmd.name.empty()) {
          int rop = static_cast<int>(rng() % 8);
          if (rop == 0) {
            cmd.name = "update";
            cmd.body = {{"enabled", rng() % 3 != 0}, {"cooldown_minutes", int64_t(rng() % 3)}};
          } else if (rop == 1) {
            cmd.name = "delete";
          } else {
            cmd.name = "fire";
            alert_minutes += static_cast<int64_t>(rng() % 3);
            auto trigger = util::uuid_v7();
            json::array chans;
            for (const auto& ch : known) chans.push_back(ch.as_object().at("uuid"));
            cmd.body = {
                {"firing_id", domain::alert_firing_id(p.first, trigger)},
                {"trigger_id", rng() % 2 ? json::value(trigger) : json::value(nullptr)},
                {"payload", json::object{{"alert", "execution.failed"},
                                         {"severity", "warning"},
                                         {"project_module", "wallaby_hires"}}},
                {"channel_ids", std::move(chans)},
                {"now", util::to_rfc3339(util::clock::time_point(std::chrono::hours(490000)) +
                                         std::chrono::minutes(alert_minutes))}};
          }
        }
      } else {
        auto& p = deliveries[rng() % deliveries.size()];
        stream = p.first;
        state = &p.second;
        kind = &domain::alert_delivery_aggregate();
        cmd.name = "attempt";
        static const char* outcomes[] = {"sent", "retry", "retry", "failed"};
        auto outcome = outcomes[rng() % 4];
        cmd.body = {{"attempt", p.second.at("attempts").as_int64() + 1},
                    {"outcome", outcome},
                    {"error", std::string(outcome) == "sent" ? json::value(nullptr)
                                                             : json::value("refused")},
                    {"next_attempt_at", "2026-11-29T10:00:00Z"}};
      }
    } else if (k == 14 && rng() % 2) {
      // Sign-in sessions: start, rotate (sometimes presenting a stale id: reuse), revoke.
      if (sessions.empty() || rng() % 3 == 0)
        sessions.emplace_back(domain::auth_session_stream_id(util::uuid_v7()),
                              domain::auth_session_aggregate().initial());
      auto& p = sessions.back().second.at("exists").as_bool() ? sessions[rng() % sessions.size()]
                                                              : sessions.back();
      stream = p.first;
      state = &p.second;
      kind = &domain::auth_session_aggregate();
      int op = static_cast<int>(rng() % 4);
      if (!p.second.at("exists").as_bool()) {
        cmd.name = "start";
        cmd.body = {{"user_uuid", util::uuid_v7()},
                    {"username", "user1"},
                    {"refresh_jti", util::uuid_v7()},
                    {"refresh_expires_at", "2026-12-01T00:00:00Z"}};
      } else if (op == 3) {
        cmd.name = "revoke";
        cmd.body = {{"reason", "logout"}};
      } else {
        cmd.name = "rotate";
        cmd.body = {{"presented_jti", op == 2 ? json::value("stale") : p.second.at("refresh_jti")},
                    {"refresh_jti", util::uuid_v7()},
                    {"refresh_expires_at", "2026-12-02T00:00:00Z"}};
      }
    } else if (k == 14) {
      // Users: create (a taken name is refused and retried), disable.
      auto name = "user" + std::to_string(rng() % 40);
      stream = domain::user_stream_id(domain::user_uuid(name));
      state = &users.try_emplace(stream, domain::user_aggregate().initial()).first->second;
      kind = &domain::user_aggregate();
      bool exists = state->contains("exists") && state->at("exists").as_bool();
      cmd.name = exists ? (rng() % 2 ? "disable" : "password_changed") : "create";
      if (!exists)
        cmd.body = {
            {"username", name}, {"email", name + "@example.org"}, {"is_superuser", rng() % 5 == 0}};
    } else if (k == 10) {
      // Deployment profiles: create, patch, switch default, delete.
      stream = domain::kProfileRegistryStream;
      state = &profiles;
      kind = &domain::profile_registry_aggregate();
      const auto& known = profiles.at("profiles").as_array();  // [{uuid, profile, revision}]
      int op = known.empty() ? 0 : static_cast<int>(rng() % 4);
      if (op == 0) {
        cmd.name = "create";
        cmd.body = {
            {"profile", json::object{{"name", "p" + std::to_string(rng() % 50)},
                                     {"project_module", rng() % 2 ? json::value("wallaby_hires")
                                                                  : json::value(nullptr)},
                                     {"is_default", rng() % 3 == 0},
                                     {"translation", json::object{{"algo", "metis"}}},
                                     {"deployment", json::object{{"kind", "rest_remote"},
                                                                 {"deploy_host", "dim"}}}}}};
      } else {
        cmd.body = {{"uuid", known[rng() % known.size()].as_object().at("uuid")}};
        cmd.name = op == 1 ? "update" : op == 2 ? "make_default" : "delete";
        if (op == 1)
          cmd.body["patch"] = json::object{{"description", "d" + std::to_string(rng() % 1000)}};
      }
    } else if (k == 11) {
      // Project configs: uploads that change the TAP timeout make new revisions.
      auto id = "survey" + std::to_string(rng() % 3);
      stream = domain::project_stream_id(id);
      auto& st = projects.try_emplace(stream, domain::project_aggregate().initial()).first->second;
      state = &st;
      kind = &domain::project_aggregate();
      auto text = config_text;
      text.replace(text.find("id: minimal_survey"), 18, "id: " + id);
      text.replace(text.find("timeout_seconds: 60"), 19,
                   "timeout_seconds: " + std::to_string(1 + rng() % 5));
      cmd.name = "upload";
      cmd.body = {{"text", text}};
      if (!st.at("active_uuid").is_null() && rng() % 3 == 0) {  // a hook module for the project
        cmd.name = "attach_wasm";
        cmd.body = {{"wasm_sha256", util::sha256_hex(std::to_string(rng() % 4))},
                    {"size_bytes", 8}};
      }
    } else if (k >= 12 && !sources.empty()) {
      // Discovery: request, then answer it with rows for a random set of SBIDs.
      auto& p = sources[rng() % sources.size()];
      stream = p.first;
      state = &p.second;
      kind = &domain::source_aggregate();
      auto pending = p.second.find("discovery_request");
      if (pending == p.second.end() || pending->value().is_null()) {
        cmd.name = "request_discovery";
        cmd.body = {{"request_id", util::uuid_v7()}};
      } else {
        cmd.name = "complete_discovery";
        json::object rows;
        json::array deletes;
        for (int sb = 0; sb < 3; ++sb) {
          auto sbid = std::to_string(10000 + sb);
          if (rng() % 2)
            rows[sbid] = json::object{
                {"datasets", json::array{json::object{{"sbid", sbid}, {"n", int64_t(rng() % 9)}}}}};
          else
            deletes.push_back(json::value(sbid));
        }
        cmd.body = {{"request_id", pending->value()},
                    {"outcome", rng() % 4 ? "changed" : "unchanged"},
                    {"signature", std::to_string(rng())},
                    {"rows", std::move(rows)},
                    {"delete_sbids", std::move(deletes)},
                    {"datasets", 1},
                    {"truncated", false},
                    {"ready", true}};
      }
    } else if (k < 3 || sources.empty()) {
      auto ident = "HIPASSJ" + std::to_string(rng() % 100000);
      auto uuid = domain::source_uuid("wallaby_hires", ident);
      stream = domain::source_stream_id(uuid);
      auto it =
          std::find_if(sources.begin(), sources.end(), [&](auto& p) { return p.first == stream; });
      if (it == sources.end()) {
        sources.emplace_back(stream, domain::source_aggregate().initial());
        it = sources.end() - 1;
      }
      state = &it->second;
      kind = &domain::source_aggregate();
      cmd.name = "register";
      cmd.body = {{"project_module", "wallaby_hires"},
                  {"source_identifier", ident},
                  {"enabled", rng() % 2 == 0}};
    } else if (k < 6) {
      auto& p = sources[rng() % sources.size()];
      stream = p.first;
      state = &p.second;
      kind = &domain::source_aggregate();
      cmd.name = rng() % 5 == 0 ? "delete" : "update";
      if (cmd.name == "update")
        cmd.body = {{"enabled", rng() % 2 == 0}, {"stale_after_hours", int64_t(1 + rng() % 48)}};
    } else if (k < 8 || executions.empty()) {
      stream = domain::execution_stream_id(util::uuid_v7());
      executions.emplace_back(stream, domain::execution_aggregate().initial());
      state = &executions.back().second;
      kind = &domain::execution_aggregate();
      cmd.name = "create";
      cmd.body = {{"project_module", "wallaby_hires"},
                  {"archive_name", "casda"},
                  {"sources", json::array{json::object{{"source_identifier", "HIPASSJ1313-15"}}}}};
    } else {
      auto& p = executions[rng() % executions.size()];
      stream = p.first;
      state = &p.second;
      kind = &domain::execution_aggregate();
      static const char* steps[] = {"request_execute", "start", "prepared", "fail",
                                    "cancel",          "retry", "observe"};
      cmd.name = steps[rng() % 7];
      if (cmd.name == "prepared") {
        auto sha = util::sha256_hex(std::to_string(rng() % 5));
        cmd.body = {{"manifest", json::object{{"sources", json::array{}}}},
                    {"manifest_sha256", sha},
                    {"do_submit", rng() % 2 == 0},
                    {"artifacts", json::array{json::object{{"kind", "manifest"},
                                                           {"sha256", sha},
                                                           {"size_bytes", 10},
                                                           {"media_type", "application/json"}}}}};
      }
      if (cmd.name == "fail") cmd.body = {{"error", "boom"}};
      if (cmd.name == "retry") cmd.body = {{"reason", "again"}};
      if (cmd.name == "observe")
        cmd.body = {{"scheduler_state", rng() % 2 ? "running" : "failed"}, {"raw_state", "X"}};
    }
    auto d = kind->decide(*state, stream, cmd);
    if (d.error || d.events.empty()) return std::nullopt;
    store::append_request r{stream, expected_version::at(versions[stream]), {}};
    for (auto& pe : d.events) {
      kind->apply(*state, pe.type, pe.data, "");
      r.events.push_back(make_event(pe.type, pe.data));
    }
    versions[stream] += static_cast<int64_t>(d.events.size());
    for (auto& pe : d.events)
      if (pe.type == et::alert_fired)
        for (const auto& del : pe.data.at("deliveries").as_array())
          deliveries.emplace_back(
              domain::alert_delivery_stream_id(del.at("delivery_id").as_string()),
              domain::alert_delivery_aggregate().initial());
    return r;
  }
};

}  // namespace beampipe::test
