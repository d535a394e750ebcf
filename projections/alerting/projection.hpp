#pragma once
// The alerting read models (spec §1.8, §3.9): notification_channels, alert_rules,
// alert_deliveries and alert_triggers. Their queries are in queries.hpp; no other code reads
// or writes the tables.
#include <memory>
#include <vector>

#include "projections/engine.hpp"

namespace beampipe::projections::alerting {

std::vector<std::shared_ptr<const projection>> make_projections();

}  // namespace beampipe::projections::alerting
