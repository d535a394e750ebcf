#pragma once
// `beampipe openapi export [-o FILE]`: prints the OpenAPI document of /api/v2, the same one
// the server serves at GET /api/v2/openapi.json, without a database or a running server.
#include <optional>
#include <string>

namespace beampipe::cli {

// Writes the document to out_file (or stdout). Returns the process exit code.
int openapi_export(const std::optional<std::string>& out_file);

// The whole `beampipe openapi ...` command: argv[1] is "openapi".
int openapi_main(int argc, char** argv);

}  // namespace beampipe::cli
