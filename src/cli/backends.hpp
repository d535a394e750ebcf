#pragma once
// Chooses where executions run. With BEAMPIPE_USE_REAL_BACKENDS=true a profile's
// rest_remote deployment talks to its Translator Manager and DIM, and slurm_remote to its
// login node over SSH; otherwise the simulated DIM / Slurm run them (the offline default).
// Staging through CASDA runs only with real backends and CASDA credentials.
#include "actors/execution_worker.hpp"
#include "adapters/execution_backend.hpp"

namespace beampipe::cli {

bool real_backends_enabled();
adapters::backend_factory make_backend_factory();
actors::stager make_stager();
// "simulated" or "real", for logs and /ready.
std::string describe_backends();

}  // namespace beampipe::cli
