#pragma once
// Chooses where executions run. With BEAMPIPE_USE_REAL_BACKENDS=true a profile's
// rest_remote deployment talks to its Translator Manager and DIM, and slurm_remote to its
// login node over SSH; otherwise the simulated DIM / Slurm run them (the offline default).
// Staging through CASDA runs only with real backends and CASDA credentials.
#include "actors/execution_worker.hpp"
#include "adapters/execution_backend.hpp"
#include "app/settings.hpp"

namespace beampipe::app {

adapters::backend_factory make_backend_factory(const settings& s);
actors::stager make_stager(const settings& s);
// "simulated" or "real", for logs and /ready.
std::string describe_backends(const settings& s);

}  // namespace beampipe::app
