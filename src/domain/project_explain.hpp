#pragma once
// `beampipe project explain`: what a project config will do, in words an operator checks
// before uploading it: the archives it asks and the queries it runs for each source, how rows
// become records (fields, transforms, flags, signature), the graph and its patches, the
// manifest, and what the scheduler will do on its own.
#include <string>

#include "domain/project_config.hpp"

namespace beampipe::domain {

std::string explain_project(const ValidationReport& report);

}  // namespace beampipe::domain
