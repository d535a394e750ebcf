#pragma once
// The component schemas of /api/v2 (OpenAPI 3.0 dialect: `nullable: true`, never type arrays)
// as the handlers really send and accept them, and the parameter helpers the route
// registrations use. The OpenAPI document (src/api/openapi.cpp) puts them under
// components.schemas; route_doc names them.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/http.hpp"

namespace beampipe::api {

const boost::json::object& component_schemas();

// Path parameters.
param_doc uuid_path(std::string name, std::string description);
param_doc text_path(std::string name, std::string description);
// Query parameters.
param_doc text_query(std::string name, std::string description,
                     std::vector<std::string> one_of = {});
param_doc bool_query(std::string name, std::string description);
param_doc int_query(std::string name, std::string description, int64_t minimum,
                    std::optional<int64_t> maximum, int64_t fallback);

// The sign-in routes (registered in src/api/user_routes.cpp): pass these as the route_doc of
// POST /login, POST /refresh, POST /logout and GET /user/me.
route_doc doc_login();
route_doc doc_refresh();
route_doc doc_logout();
route_doc doc_current_user();

}  // namespace beampipe::api
