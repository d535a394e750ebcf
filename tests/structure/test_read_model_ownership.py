#!/usr/bin/env python3
"""Issue #18: a read model's table is read and written only by its own slice
(projections/<model>/). Fails when SQL naming an owned table appears anywhere else in the C++
sources. `PENDING` lists files still to move, each with the number of statements it may hold:
the count may only go down (lower it as statements move into the slice)."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OWNED = {
    "source_registry": "projections/source_registry/",
    "archive_metadata": "projections/source_registry/",
    "batch_execution_record": "projections/execution_ledger/",
    "execution_stuck": "projections/execution_ledger/",
    "execution_observations": "projections/execution_details/",
    "execution_artifacts": "projections/execution_details/",
    "provenance_events": "projections/provenance/",
    "jobs": "projections/jobs/",
    "notification_channels": "projections/alerting/",
    "alert_rules": "projections/alerting/",
    "alert_deliveries": "projections/alerting/",
    "alert_triggers": "projections/alerting/",
    "project_configs": "projections/project_configs/",
    "project_config_wasm": "projections/project_configs/",
    "daliuge_deployment_profile": "projections/deployment_profiles/",
    "users": "projections/users/",
    "auth_sessions": "projections/users/",
    "worker_drains": "projections/workers/",
}
PENDING = {}
SQL = r"(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+{table}\b"

failures = []
for table, slice_dir in OWNED.items():
    pattern = re.compile(SQL.format(table=table))
    for top in ("src", "actors", "projections", "events"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith((".cpp", ".hpp")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
                if rel.startswith(slice_dir):
                    continue
                with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                    # Adjacent literals are one string: "... FROM " "table ..." names it too.
                    text = re.sub(r'"\s*\n\s*"', "", f.read())
                    hits = len(pattern.findall(text))
                allowed = PENDING.get((table, rel), 0)
                if hits > allowed:
                    failures.append(f"{rel}: {hits} statement(s) on {table} outside "
                                    f"{slice_dir} (allowed {allowed})")
for f in failures:
    print("FAIL", f)
print("ok" if not failures else f"{len(failures)} file(s) reach into a read model they do not own")
sys.exit(1 if failures else 0)
