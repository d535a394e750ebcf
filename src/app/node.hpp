#pragma once
// The composition root of a running beampipe process: every part (actor runtime, projection
// runners, read pool, admission gate, API context, heartbeat, dependency prober, workers,
// scheduler, listeners) built once from the settings, in dependency order, started in that
// order and stopped in reverse. main() only parses the command line and waits for a signal.
#include <functional>
#include <memory>
#include <string>

#include "app/settings.hpp"

namespace beampipe::app {

// Process roles: the API, the workers (discovery, execution, scheduler election), or both.
struct node_role {
  bool api = true;
  bool workers = true;
};

struct node_options {
  std::string conninfo;
  node_role role;
  bool demo = false;                                      // load the WALLABY demo (start --demo)
  std::function<bool()> stopping = [] { return false; };  // a shutdown was requested
};

class node {
 public:
  // Refuses insecure production settings, migrates the database and builds every part; nothing
  // runs until start().
  node(const settings& s, node_options o);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  void start();
  // Stops accepting work, then every part in reverse order. Idempotent.
  void stop();
  // The API's base URL (empty without the API role).
  std::string url() const;

 private:
  struct parts;
  std::unique_ptr<parts> p_;
};

// Production refuses to start on a failing security finding (break-glass flags aside); other
// findings are logged as warnings.
void enforce_security_gates(const settings& s);

}  // namespace beampipe::app
