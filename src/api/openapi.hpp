#pragma once
// The OpenAPI 3.0.3 document of /api/v2, generated from the route table (each route's
// route_doc) and the component schemas (api_schemas.cpp): served at GET /api/v2/openapi.json
// and printed by `beampipe openapi export`, so the contract cannot drift from the code.
#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "api/http.hpp"

namespace beampipe::api {

boost::json::object openapi_document(const router& routes, const std::string& version);

// The document of the route table built for documentation (no context), serialised once:
// what `beampipe openapi export` prints. A server serves the document of its own table, which
// the contract tests compare with this one byte for byte.
const std::string& documentation_openapi_json(const std::string& version);

// The Redoc page at GET /api/v2/docs and the Redoc bundle it loads (redoc from the npm
// registry, embedded at build time: the page works offline).
std::string docs_page_html();
std::string_view redoc_bundle();
std::string_view redoc_license();  // the package's LICENSE and the bundle's notices
std::string_view redoc_version();

}  // namespace beampipe::api
