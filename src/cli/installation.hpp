#pragma once
// A local installation in one folder (spec §11.1 [HEAD] Run family): `beampipe init` writes it
// (a settings file, generated secrets, an example project and profile), `beampipe setup` takes
// an operator through the first steps on it (start, sign in, upload, doctor).
#include <filesystem>
#include <string>

namespace beampipe::cli {

struct init_options {
  std::filesystem::path directory;  // made absolute; created when missing
  bool force = false;               // replace the files init owns (secrets are always kept)
  bool json = false;
  std::string admin_username = "admin";
  std::string bind_addr = "127.0.0.1:8080";
};

// Writes the installation; refuses (1, naming each file) when one of its files exists and
// --force is not given. Prints what it created and the next steps.
int run_init(const init_options& o);

struct setup_options {
  std::filesystem::path directory;
  bool yes = false;   // no questions: init when missing, and go on
  bool start = true;  // --no-start: only check and say what is left to do
  bool json = false;
};

// The guided first steps, each reported as done, skipped or failed: the installation (init when
// missing), the service (started detached from its settings file), the sign-in as its first
// superuser, the example project and profiles uploaded, and the doctor's checks. 0 when every
// step passed; 1 at the first that failed; 2 when a question would need a terminal.
int run_setup(const setup_options& o);

}  // namespace beampipe::cli
