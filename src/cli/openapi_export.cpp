#include "cli/openapi_export.hpp"

#include <fstream>
#include <iostream>

#include "api/openapi.hpp"

namespace beampipe::cli {

namespace {
constexpr const char* kUsage =
    "Usage: beampipe openapi export [-o FILE]\n"
    "Prints the OpenAPI 3.0 document of /api/v2 (as served at GET /api/v2/openapi.json);\n"
    "needs no database.\n";
}

int openapi_export(const std::optional<std::string>& out_file) {
  // The served document, byte for byte, plus a final newline.
  const auto& doc = api::documentation_openapi_json(BEAMPIPE_VERSION);
  if (!out_file) {
    std::cout << doc << "\n";
    return std::cout.good() ? 0 : 1;
  }
  std::ofstream f(*out_file, std::ios::binary | std::ios::trunc);
  f << doc << "\n";
  f.close();
  if (!f) {
    std::cerr << "beampipe: cannot write " << *out_file << "\n";
    return 1;
  }
  return 0;
}

int openapi_main(int argc, char** argv) {
  std::optional<std::string> out;
  bool export_cmd = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "export" && !export_cmd) {
      export_cmd = true;
    } else if ((a == "-o" || a == "--output") && i + 1 < argc) {
      out = argv[++i];
    } else if (a.rfind("--output=", 0) == 0) {
      out = a.substr(9);
    } else {
      std::cerr << "beampipe openapi: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (!export_cmd) {
    std::cerr << kUsage;
    return 2;
  }
  return openapi_export(out);
}

}  // namespace beampipe::cli
