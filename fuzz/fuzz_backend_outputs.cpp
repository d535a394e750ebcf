// Fuzzes what the backends answer: Slurm command output (sbatch receipts, create_dlg_job,
// squeue/sacct polls and name lookups, composite ids) and DALiuGE DIM JSON (session status,
// graph status, physical graphs). None of it may crash, hang or read out of bounds; the
// properties checked are the ones the execution worker relies on.
#include "domain/daliuge.hpp"
#include "domain/slurm.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace beampipe::domain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // A receipt names exactly one numeric job id, or none at all.
  if (auto r = parse_sbatch_receipt(text); r && !valid_slurm_job_id(r.value().job_id)) std::abort();
  (void)parse_create_dlg_job_output(text, "/home/u/dlg");
  if (auto q = parse_squeue_poll(text))
    for (const auto& o : q.value())
      if (slurm_state_rank(o.state) < 0 || slurm_state_rank(o.state) > 6) std::abort();
  auto sacct = parse_sacct_poll(text);
  if (auto q = parse_squeue_poll(text); q && sacct) (void)merge_slurm_observations({}, q.value(), sacct.value());
  auto by_name_q = parse_squeue_name_lookup(text, "BeampipeExecution-x");
  auto by_name_s = parse_sacct_name_lookup(text, "BeampipeExecution-x");
  if (by_name_q && by_name_s)
    for (const auto& m : merge_name_matches(by_name_q.value(), by_name_s.value()))
      if (m.name != "BeampipeExecution-x") std::abort();  // only exact name matches
  (void)normalize_slurm_state(text);
  (void)parse_sacct_exit_code(text);
  (void)parse_slurm_scheduler_id(text);
  (void)percent_encode_path_segment(text);

  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return 0;
  auto state = dim_session_state_from_raw(v);
  (void)dim_poll_status(state, dim_error_drop_uids(v));
  (void)physical_graph_roots(v);
  (void)prepare_physical_graph(v);
  (void)bind_slurm_pgt(v, "BeampipeExecution-x");
  return 0;
}
