// Slurm over SSH, pure half (protocols §6, domain §7.5, §12.2–12.3).
#include "domain/slurm.hpp"

#include <doctest/doctest.h>

#include "util/hash.hpp"

using namespace beampipe::domain;

namespace {

SlurmRemoteDeployment profile() {
  SlurmRemoteDeployment d;
  d.login_node = "setonix.pawsey.org.au";
  d.remote_user = "jblackwood";
  d.account = "pawsey0411";
  d.home_dir = "/scratch/pawsey0411";
  d.dlg_root = "/scratch/pawsey0411/jblackwood/dlg/";
  d.log_dir = "/scratch/pawsey0411/jblackwood/dlg/log";
  d.job_duration_minutes = 50;
  return d;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("slurm state golden table (protocols §6.7)") {
  struct Row {
    const char* raw;
    SlurmState expected;
  };
  const Row rows[] = {
      {"COMPLETED", SlurmState::completed},
      {"COMPLETING", SlurmState::running},
      {"CANCELLED+", SlurmState::cancelled},
      {"FAILED", SlurmState::failed},
      {"OUT_OF_MEMORY", SlurmState::failed},
      {"TIMEOUT", SlurmState::timeout},
      {"RUNNING", SlurmState::running},
      {"CONFIGURING", SlurmState::running},
      {"PENDING", SlurmState::pending},
      {"SUSPENDED", SlurmState::pending},
      {"", SlurmState::unknown},
      {"WEIRD", SlurmState::unknown},
      {"PENDING+REQUEUE_HOLD", SlurmState::pending},
  };
  for (const auto& r : rows) {
    CAPTURE(r.raw);
    CHECK(normalize_slurm_state(r.raw) == r.expected);
  }
  CHECK(slurm_state_rank(SlurmState::unknown) < slurm_state_rank(SlurmState::pending));
  CHECK(slurm_state_rank(SlurmState::failed) > slurm_state_rank(SlurmState::timeout));
  CHECK(parse_sacct_exit_code("0:0") == 0);
  CHECK(parse_sacct_exit_code("1:0") == 1);
}

TEST_CASE("slurm state extra cases") {
  CHECK(normalize_slurm_state("RUNNING+COMPLETING") == SlurmState::running);
  CHECK(normalize_slurm_state("PENDING+RUNNING") == SlurmState::running);
  CHECK(normalize_slurm_state("  cancelled by 1002 ") == SlurmState::cancelled);
  CHECK(normalize_slurm_state("CANCELLED by 1002") == SlurmState::cancelled);
  CHECK(normalize_slurm_state("revoked") == SlurmState::cancelled);
  CHECK(normalize_slurm_state("NODE_FAIL") == SlurmState::failed);
  CHECK(normalize_slurm_state("REQUEUE_HOLD") == SlurmState::pending);
  CHECK(normalize_slurm_state("+") == SlurmState::unknown);
  CHECK(slurm_state_name(SlurmState::timeout) == "TIMEOUT");
  CHECK(slurm_state_name(SlurmState::unknown) == "UNKNOWN");
  CHECK_FALSE(parse_sacct_exit_code("").has_value());
  CHECK_FALSE(parse_sacct_exit_code("x:0").has_value());
  CHECK(parse_sacct_exit_code("3") == 3);
  CHECK(parse_sacct_exit_code("0:15") == 0);
}

TEST_CASE("composite scheduler id") {
  auto id = parse_slurm_scheduler_id("session:123|/tmp/session");
  CHECK(id.session_id == "session");
  CHECK(id.job_id == "123");
  CHECK(id.session_dir == "/tmp/session");
  auto text = format_slurm_scheduler_id(id);
  REQUIRE(text.ok());
  CHECK(text.value() == "session:123|/tmp/session");

  auto bare = parse_slurm_scheduler_id("12345");
  CHECK(bare.session_id.empty());
  CHECK(bare.job_id == "12345");
  CHECK(bare.session_dir.empty());

  // The dir may itself hold ':' or '|': only the first '|' splits.
  auto odd = parse_slurm_scheduler_id("s:7|/a|b:c");
  CHECK(odd.session_dir == "/a|b:c");
  CHECK(odd.job_id == "7");

  CHECK(format_slurm_scheduler_id({"s", "1", ""}).value() == "s:1");
  auto too_long = format_slurm_scheduler_id({"s", "1", "/" + std::string(600, 'x')});
  REQUIRE_FALSE(too_long.ok());
  CHECK(contains(too_long.error(), "512"));
}

TEST_CASE("shell_quote") {
  CHECK(shell_quote("abc/DEF_0.9:-x") == "abc/DEF_0.9:-x");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("%i|%T|%R") == "'%i|%T|%R'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("$HOME") == "'$HOME'");
  CHECK(shell_quote("a=b") == "'a=b'");
  CHECK(bash_login_command("echo 'x'") == "bash -lc 'echo '\\''x'\\'''");
}

TEST_CASE("staging paths and INI ([HEAD] form)") {
  auto d = profile();
  d.modules = "module load singularity/4.1.0-askap\n\n  module use /group/askap/modulefiles\n";
  d.venv = "source /software/venv/bin/activate";
  d.all_nics = true;
  d.resources = SlurmResources{};
  d.resources->nodes = 3;
  d.resources->wall_time_minutes = 75;
  auto p = slurm_staging_paths(d, "E1");
  CHECK(p.dlg_root == "/scratch/pawsey0411/jblackwood/dlg");
  CHECK(p.pgt_path == "/scratch/pawsey0411/jblackwood/dlg/staging/BeampipeExecution_E1.pgt.graph");
  CHECK(p.ini_path == "/scratch/pawsey0411/jblackwood/dlg/staging/BeampipeExecution_E1.ini");
  CHECK_FALSE(p.template_path.has_value());

  auto ini = render_slurm_ini(d, "jblackwood", p.pgt_path);
  REQUIRE(ini.ok());
  CHECK(ini.value() ==
        "[DEPLOYMENT]\nremote = False\nsubmit = False\n"
        "[ENGINE]\nNUM_NODES = 3\nNUM_ISLANDS = 1\nJOB_DUR = 75\nMAX_THREADS = 0\n"
        "VERBOSE_LEVEL = 1\nALL_NICS = True\n"
        "[GRAPH]\nPHYSICAL_GRAPH = " +
            p.pgt_path +
            "\n"
            "[FACILITY]\nUSER = jblackwood\nACCOUNT = pawsey0411\n"
            "LOGIN_NODE = setonix.pawsey.org.au\nHOME_DIR = /scratch/pawsey0411\n"
            "DLG_ROOT = /scratch/pawsey0411/jblackwood/dlg\n"
            "LOG_DIR = /scratch/pawsey0411/jblackwood/dlg/log\nEXEC_PREFIX = srun -l\n"
            "MODULES = module load singularity/4.1.0-askap\n"
            "    module use /group/askap/modulefiles\n"
            "VENV = source /software/venv/bin/activate\n");

  auto dollar = profile();
  dollar.venv = "source $HOME/venv/bin/activate";
  auto bad = render_slurm_ini(dollar, "u", p.pgt_path);
  REQUIRE_FALSE(bad.ok());
  CHECK(contains(bad.error(), "VENV"));
  CHECK(contains(bad.error(), "$"));

  auto dollar_module = profile();
  dollar_module.modules = "module load a\nmodule use $GROUP/x";
  CHECK_FALSE(render_slurm_ini(dollar_module, "u", p.pgt_path).ok());

  auto newline = profile();
  newline.exec_prefix = "srun\n-l";
  CHECK_FALSE(render_slurm_ini(newline, "u", p.pgt_path).ok());

  auto with_template = profile();
  with_template.slurm_template = "#!/bin/bash\n";
  CHECK(slurm_staging_paths(with_template, "E1").template_path ==
        "/scratch/pawsey0411/jblackwood/dlg/staging/BeampipeExecution_E1.slurm");
}

TEST_CASE("environment prelude") {
  auto d = profile();
  auto plain = slurm_env_prelude(d, std::nullopt);
  REQUIRE(plain.ok());
  CHECK(plain.value() ==
        "set -euo pipefail\nexport BEAMPIPE_SLURM_ACCOUNT=pawsey0411\n"
        "export BEAMPIPE_SLURM_ACCOUNT=pawsey0411\n");

  d.modules = "module load a\n\nmodule load b";
  d.venv = "source /v/bin/activate";
  d.environment_setup = "export X=1\nsingularity exec \"$BEAMPIPE_ASKAPSOFT_SIF\" true";
  CHECK_FALSE(slurm_env_prelude(d, std::nullopt).ok());
  CHECK_FALSE(slurm_env_prelude(d, std::string("  ")).ok());
  auto full = slurm_env_prelude(d, std::string("/sif/askap soft.sif"));
  REQUIRE(full.ok());
  CHECK(full.value() ==
        "set -euo pipefail\nexport BEAMPIPE_SLURM_ACCOUNT=pawsey0411\n"
        "set +u\nmodule load a\nmodule load b\nset -u\n"
        "set +u\nsource /v/bin/activate\nset -u\n"
        "export BEAMPIPE_ASKAPSOFT_SIF='/sif/askap soft.sif'\n"
        "export X=1\nsingularity exec \"$BEAMPIPE_ASKAPSOFT_SIF\" true\n"
        "export BEAMPIPE_SLURM_ACCOUNT=pawsey0411\n");
}

TEST_CASE("create_dlg_job and sbatch commands") {
  auto d = profile();
  d.slurm_template = "#!/bin/bash\n";
  auto p = slurm_staging_paths(d, "E1");
  auto cmd = create_dlg_job_command(d, p, "set -euo pipefail\n");
  CHECK(cmd ==
        "bash -lc 'set -euo pipefail\nexport DLG_ROOT=/scratch/pawsey0411/jblackwood/dlg\n"
        "python3 -m dlg.deploy.create_dlg_job --action submit -f setonix -P " +
            p.pgt_path + " --config_file " + p.ini_path + " --slurm_template " + *p.template_path +
            "'");

  CHECK(slurm_time_limit(50) == "00:50:00");
  CHECK(slurm_time_limit(75) == "01:15:00");
  CHECK(slurm_time_limit(6000) == "100:00:00");

  d.resources = SlurmResources{};
  d.resources->partition = "work";
  d.resources->memory = "64G";
  d.resources->cpus_per_task = 4;
  d.resources->quality_of_service = "high prio";
  auto sb = sbatch_command(d, "set -euo pipefail\n", "BeampipeExecution-E1-2026-01-01T00-00-00",
                           "/r/workspace/S_1", "/r/workspace/S_1/wallaby-staging");
  CHECK(sb ==
        "bash -lc 'set -euo pipefail\numask 077\nmkdir -p -- /r/workspace/S_1/wallaby-staging\n"
        "mkdir -p -- /r/workspace/S_1/logs\n"
        "export WALLABY_HIRES_STAGING_ROOT=/r/workspace/S_1/wallaby-staging\n"
        "sbatch --export=BEAMPIPE_SLURM_ACCOUNT,WALLABY_HIRES_STAGING_ROOT --parsable "
        "--job-name=BeampipeExecution-E1-2026-01-01T00-00-00 --account=pawsey0411 --nodes=1 "
        "--time=00:50:00 --chdir=/r/workspace/S_1 "
        "--output='\\''/r/workspace/S_1/logs/out-%j.log'\\'' "
        "--error='\\''/r/workspace/S_1/logs/err-%j.log'\\'' --partition=work --mem=64G "
        "--qos='\\''high prio'\\'' --cpus-per-task=4 "
        "/r/workspace/S_1/jobsub.sh'");

  d.environment_setup = "echo $BEAMPIPE_ASKAPSOFT_SIF";
  CHECK(contains(
      sbatch_command(d, "", "S", "/r/w/S", "/r/w/S/wallaby-staging"),
      "--export=BEAMPIPE_SLURM_ACCOUNT,WALLABY_HIRES_STAGING_ROOT,BEAMPIPE_ASKAPSOFT_SIF "));

  // The logs land where the failure diagnostics look (not in the remote user's $HOME).
  CHECK(slurm_stderr_glob("/r/w/S") == "/r/w/S/logs/err-*.log");
  CHECK(contains(sbatch_command(d, "", "S", "/r/w/S", "/r/w/S/wallaby-staging"),
                 "--error='\\''/r/w/S/logs/err-%j.log'\\''"));
  // A literal % in the folder is escaped for Slurm's filename patterns.
  CHECK(contains(sbatch_command(d, "", "S", "/r/w/50%", "/r/w/50%/wallaby-staging"),
                 "--error='\\''/r/w/50%%/logs/err-%j.log'\\''"));
}

TEST_CASE("create_dlg_job output and jobsub path checks") {
  const std::string root = "/home/hpc/dlg/";
  auto ok = parse_create_dlg_job_output(
      "some banner\nCreated job submission script /home/hpc/dlg/workspace/S_2026/jobsub.sh\n",
      root);
  REQUIRE(ok.ok());
  CHECK(ok.value().jobsub_path == "/home/hpc/dlg/workspace/S_2026/jobsub.sh");
  CHECK(ok.value().session_dir == "/home/hpc/dlg/workspace/S_2026");
  CHECK(ok.value().staging_root == "/home/hpc/dlg/workspace/S_2026/wallaby-staging");

  auto path_error = [&](const std::string& path) {
    auto r = parse_create_dlg_job_output("Created job submission script " + path + "\n", root);
    CAPTURE(path);
    CHECK_FALSE(r.ok());
  };
  path_error("relative/jobsub.sh");
  path_error("/home/hpc/dlg/jobsub.sh");                    // directly in dlg_root
  path_error("/home/hpc/dlgx/workspace/S/jobsub.sh");       // not under dlg_root
  path_error("/home/hpc/dlg/workspace/../../x/jobsub.sh");  // '..'
  path_error("/home/hpc/dlg/./workspace/jobsub.sh");        // '.'
  path_error("/home/hpc/dlg/work,space/S/jobsub.sh");
  path_error("/home/hpc/dlg/work:space/S/jobsub.sh");
  path_error("/home/hpc/dlg/work\tspace/S/jobsub.sh");
  path_error("/home/hpc/dlg//workspace/jobsub.sh");
  CHECK_FALSE(parse_create_dlg_job_output("nothing here\n", root).ok());
  CHECK_FALSE(
      parse_create_dlg_job_output("Created job submission script /home/hpc/dlg/w/a/jobsub.sh\n"
                                  "Created job submission script /home/hpc/dlg/w/b/jobsub.sh\n",
                                  root)
          .ok());
}

TEST_CASE("sbatch receipt") {
  auto plain = parse_sbatch_receipt("4242\n");
  REQUIRE(plain.ok());
  CHECK(plain.value().job_id == "4242");
  CHECK_FALSE(plain.value().cluster.has_value());

  auto banner = parse_sbatch_receipt("Welcome to Setonix\nproject usage: 12%\n4243\n");
  REQUIRE(banner.ok());
  CHECK(banner.value().job_id == "4243");

  auto cluster = parse_sbatch_receipt("4244;setonix\r\n");
  REQUIRE(cluster.ok());
  CHECK(cluster.value().job_id == "4244");
  CHECK(cluster.value().cluster == "setonix");

  CHECK_FALSE(parse_sbatch_receipt("").ok());
  CHECK_FALSE(parse_sbatch_receipt("Submitted batch job 12\n").ok());
  CHECK_FALSE(parse_sbatch_receipt("12\n13\n").ok());  // two ids: uncertain
  CHECK_FALSE(parse_sbatch_receipt("12;bad cluster\n").ok());
  CHECK(contains(parse_sbatch_receipt("12\n13\n").error(), "uncertain"));
}

TEST_CASE("squeue poll parsing and acceptance") {
  CHECK(squeue_poll_command({"1", "2"}) == "squeue -h -t all -j 1,2 -o '%i|%T|%R'");
  CHECK(sacct_poll_command({"1", "2"}) == "sacct -j 1,2 --format=JobID,State,ExitCode -P -n");
  auto rows = parse_squeue_poll("1001|RUNNING|nid001234\n1002|PENDING|(Resources)\n\n");
  REQUIRE(rows.ok());
  REQUIRE(rows.value().size() == 2);
  CHECK(rows.value()[0].job_id == "1001");
  CHECK(rows.value()[0].state == SlurmState::running);
  // %R is a node list for a running job, the reason only for a pending one (issue #17).
  CHECK(rows.value()[0].reason.empty());
  CHECK(rows.value()[0].nodes == "nid001234");
  CHECK(rows.value()[1].state == SlurmState::pending);
  CHECK(rows.value()[1].reason == "Resources");
  CHECK(rows.value()[1].nodes.empty());
  CHECK(rows.value()[1].source == SlurmSource::squeue);
  CHECK_FALSE(parse_squeue_poll("1001|RUNNING\n").ok());

  CHECK(squeue_outcome_acceptable(0, ""));
  CHECK(squeue_outcome_acceptable(1, "slurm_load_jobs error: Invalid job id specified\n"));
  CHECK_FALSE(squeue_outcome_acceptable(1, ""));
  CHECK_FALSE(squeue_outcome_acceptable(1, "permission denied\n"));
  CHECK_FALSE(squeue_outcome_acceptable(
      1, "slurm_load_jobs error: Invalid job id specified\nbash: line 1: %T: command not found\n"));
  CHECK_FALSE(squeue_outcome_acceptable(127, "bash: %T: command not found\n"));
}

TEST_CASE("sacct poll parsing: step folding") {
  auto r = parse_sacct_poll(
      "42|CANCELLED by 20123|0:15\n42.batch|CANCELLED|0:15\n42.extern|COMPLETED|0:0\n"
      "43.batch|COMPLETED|0:0\n43.extern|FAILED|2:0\n43.0|RUNNING|0:0\n"
      "44|FAILED|3:0\n44.batch|FAILED|3:0\n");
  REQUIRE(r.ok());
  auto& m = r.value();
  REQUIRE(m.size() == 3);
  CHECK(m.at("42").state == SlurmState::cancelled);
  CHECK(m.at("42").raw == "CANCELLED by 20123");
  CHECK(m.at("42").exit_code == 0);
  // Only step rows: the highest rank wins.
  CHECK(m.at("43").state == SlurmState::failed);
  CHECK(m.at("43").exit_code == 2);
  CHECK(m.at("44").state == SlurmState::failed);
  CHECK(m.at("44").exit_code == 3);
  CHECK(m.at("44").source == SlurmSource::sacct);

  // The allocation row is authoritative even when a step ranks higher.
  auto a = parse_sacct_poll("42|RUNNING\n42.batch|COMPLETED\n");
  REQUIRE(a.ok());
  CHECK(a.value().at("42").state == SlurmState::running);
  CHECK_FALSE(a.value().at("42").exit_code.has_value());
  CHECK(parse_sacct_poll("CANCELLED by 1002").ok() == false);
}

TEST_CASE("poll merge") {
  auto sq = parse_squeue_poll("1|COMPLETED|None\n2|RUNNING|vm\n").value();
  auto sa = parse_sacct_poll("1|COMPLETED|0:0\n3|CANCELLED by 1002|0:0\n").value();
  auto m = merge_slurm_observations({"1", "2", "3", "4"}, sq, sa);
  REQUIRE(m.size() == 4);
  CHECK(m.at("1").source == SlurmSource::squeue);
  CHECK(m.at("1").exit_code == 0);  // filled from sacct
  CHECK(m.at("2").state == SlurmState::running);
  CHECK(m.at("3").source == SlurmSource::sacct);
  CHECK(m.at("3").state == SlurmState::cancelled);
  CHECK(m.at("4").source == SlurmSource::none);
  CHECK(m.at("4").state == SlurmState::unknown);
  CHECK(valid_slurm_job_id("12"));
  CHECK_FALSE(valid_slurm_job_id("12;rm"));
  CHECK_FALSE(valid_slurm_job_id(""));
}

TEST_CASE("find_by_name parsing") {
  const std::string name = "BeampipeExecution-E1-2026-01-01T00-00-00";
  auto t = std::chrono::system_clock::time_point{} + std::chrono::seconds(1767225600);
  CHECK(slurm_utc_time(t) == "2026-01-01T00:00:00");
  CHECK(squeue_name_command(name) == "squeue -h -t all --name=" + name + " -o '%i|%j|%T|%R|%Z'");
  CHECK(sacct_name_command(name, t) ==
        "TZ=UTC sacct -n -X --name=" + name +
            " --starttime=2026-01-01T00:00:00 -o 'JobIDRaw,JobName,State,Reason,WorkDir' -P");
  CHECK(scancel_command("17") == "scancel -- 17");

  auto sq = parse_squeue_name_lookup(
      "7|" + name + "|COMPLETING|vm|/dlg/workspace/s|1\n8|" + name + "x|RUNNING|vm|/home/u\n",
      name);
  REQUIRE(sq.ok());
  REQUIRE(sq.value().size() == 1);
  CHECK(sq.value()[0].job_id == "7");
  CHECK(sq.value()[0].work_dir == "/dlg/workspace/s|1");  // the last field keeps its '|'
  CHECK(sq.value()[0].state == SlurmState::running);      // normalised, not UNKNOWN
  CHECK(sq.value()[0].source == SlurmSource::squeue);

  auto sa = parse_sacct_name_lookup(
      "7|" + name + "|RUNNING|None|/dlg/w\n6|" + name + "|CANCELLED by 1002|None|\n", name);
  REQUIRE(sa.ok());
  REQUIRE(sa.value().size() == 2);
  CHECK(sa.value()[1].state == SlurmState::cancelled);
  CHECK_FALSE(parse_sacct_name_lookup("7|" + name + "|RUNNING\n", name).ok());
  CHECK_FALSE(parse_squeue_name_lookup("7|" + name + "|RUNNING|vm\n", name).ok());

  auto merged = merge_name_matches(sq.value(), sa.value());
  REQUIRE(merged.size() == 2);
  CHECK(merged[0].job_id == "6");
  CHECK(merged[1].job_id == "7");
  CHECK(merged[1].source == SlurmSource::squeue);
}

TEST_CASE("slurm target fingerprint") {
  auto a = slurm_target_fingerprint("setonix.pawsey.org.au", 22, "jb", std::string("slot"));
  CHECK(a.size() == 64);
  CHECK(a == beampipe::util::sha256_hex(
                 R"({"credential_slot":"slot","login_node":"setonix.pawsey.org.au",)"
                 R"("remote_user":"jb","ssh_port":22})"));
  CHECK(slurm_target_fingerprint("h", 22, "u", std::nullopt) ==
        beampipe::util::sha256_hex(
            R"({"credential_slot":null,"login_node":"h","remote_user":"u","ssh_port":22})"));
  CHECK(a != slurm_target_fingerprint("setonix.pawsey.org.au", 2222, "jb", std::string("slot")));
}
