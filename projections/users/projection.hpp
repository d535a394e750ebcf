#pragma once
// The identity read models (spec §9.1): users (who may sign in; never a credential, those are
// not in the events) and auth_sessions (which token families are live, each one's current
// refresh token id). Their queries are in queries.hpp; no other code reads or writes the tables.
#include <memory>
#include <vector>

#include "projections/engine.hpp"

namespace beampipe::projections::users {

std::vector<std::shared_ptr<const projection>> make_projections();

}  // namespace beampipe::projections::users
