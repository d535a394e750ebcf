#pragma once
// `beampipe start --demo` (issue #15). On a database without any project it loads, through the
// API's own handlers, the files of config/examples/ carried in the binary: the WALLABY project
// config with its bundled graph (written under BEAMPIPE_HOME), a default deployment profile for
// the simulated DIM and the two reference sources; then it requests their discovery and waits
// for the answers, so the first execution can be created as soon as the API answers. The first
// superuser is made beforehand (bootstrap_first_superuser). A database that already has a
// project is left untouched, and an existing file is never overwritten.
#include <chrono>
#include <filesystem>
#include <functional>

#include "api/app.hpp"
#include "store/database.hpp"

namespace beampipe::app {

struct demo_options {
  store::database* db = nullptr;
  std::filesystem::path home;               // BEAMPIPE_HOME: relative graph.path values
  std::chrono::seconds discovery_wait{60};  // then the demo goes on without the answers
  std::function<bool()> stopping = [] { return false; };  // shutdown requested
};

// Throws std::runtime_error naming the step that failed.
void load_demo(api::app_context& ctx, const api::router& routes, const demo_options& o);

}  // namespace beampipe::app
