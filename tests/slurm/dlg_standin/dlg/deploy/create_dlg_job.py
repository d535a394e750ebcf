"""Stand-in for `python3 -m dlg.deploy.create_dlg_job` (beampipe tests only).

Not DALiuGE code: it reproduces the submit=False path the control plane drives
(protocols §6.2 step 3, §6.3, §6.4) closely enough that the real Slurm runs the job.
"""
import argparse
import configparser
import datetime
import json
import os
import shutil
import string
import sys

DEFAULT_TEMPLATE = """#!/bin/bash --login

#SBATCH --nodes=$NUM_NODES
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=2
#SBATCH --job-name=DALiuGE-$SESSION_ID
#SBATCH --time=$JOB_DURATION
#SBATCH --error=err-%j.log
"""

COMMAND = (
    "$EXEC_PREFIX $PY_BIN -m dlg.deploy.start_dlg_cluster --log_dir $LOG_DIR $GRAPH_PAR "
    "$PROXY_PAR $GRAPH_VIS_PAR --verbose-level $VERBOSE_LEVEL $ZERORUN_PAR "
    "--max-threads $MAX_THREADS --app $APP --num_islands $NUM_ISLANDS $ALL_NICS_PAR "
    "$CHECK_WITH_SESSION_PAR --ssid $SESSION_ID"
)


def process_bool(value):
    if value is None:
        return False
    v = str(value).strip().lower()
    if v == "true":
        return True
    if v == "false":
        return False
    raise ValueError("misspelled True/False value: %r" % value)


def read_config(path):
    parser = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    with open(path) as f:
        parser.read_file(f)
    merged = {}
    for section in parser.sections():
        for key in parser[section]:
            value = parser[section][key]  # interpolation happens (and fails) here
            if value is not None and value != "":
                merged[key.lower()] = value
    return merged


def label_job_dur(minutes):
    minutes = int(minutes)
    return "%02d:%02d:00" % (minutes // 60, minutes % 60)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="create_dlg_job")
    ap.add_argument("-a", "--action", required=True)
    ap.add_argument("-f", "--facility", required=True)
    ap.add_argument("-P", "--physical_graph", required=True)
    ap.add_argument("-C", "--config_file", required=True)
    ap.add_argument("--slurm_template")
    args = ap.parse_args(argv)
    if args.action != "submit":
        raise SystemExit("stand-in supports --action submit only")

    cfg = read_config(args.config_file)
    remote = process_bool(cfg.get("remote", "False"))
    submit = process_bool(cfg.get("submit", "False"))
    if remote or submit:
        raise SystemExit("stand-in supports remote = False, submit = False only")
    dlg_root = os.environ["DLG_ROOT"]  # KeyError when unset, as DALiuGE does

    with open(args.physical_graph) as f:
        pgt = json.load(f)
    if not (isinstance(pgt, list) and len(pgt) == 2 and isinstance(pgt[0], str)
            and isinstance(pgt[1], list)):
        raise SystemExit("physical graph must be [\"<name>.pgt.graph\", [...]]")
    pgt_name = pgt[0]
    base = pgt_name[: -len(".pgt.graph")] if pgt_name.endswith(".pgt.graph") else pgt_name
    base = base.split("_")[0]
    ts = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    session_id = "%s_%s" % (base, ts)
    session_dir = os.path.join(dlg_root, "workspace", session_id)
    os.makedirs(session_dir, exist_ok=True)
    graph_copy = os.path.join(session_dir, os.path.basename(pgt_name))
    shutil.copyfile(args.physical_graph, graph_copy)

    venv = cfg.get("venv", "")
    params = {
        "NUM_NODES": cfg.get("num_nodes", "1"),
        "NUM_ISLANDS": cfg.get("num_islands", "1"),
        "JOB_DURATION": label_job_dur(cfg.get("job_dur", "30")),
        "SESSION_ID": session_id,
        "MODULES": cfg.get("modules", ""),
        "VENV": venv,
        "DLG_ROOT": dlg_root,
        "ACCOUNT": cfg.get("account", ""),
        "LOG_DIR": session_dir,
        "EXEC_PREFIX": cfg.get("exec_prefix", "srun -l"),
        "PY_BIN": "python3" if venv else sys.executable,
        "GRAPH_PAR": '--physical-graph "%s"' % graph_copy,
        "PROXY_PAR": "",
        "GRAPH_VIS_PAR": "",
        "VERBOSE_LEVEL": cfg.get("verbose_level", "1"),
        "ZERORUN_PAR": "",
        "MAX_THREADS": cfg.get("max_threads", "0"),
        "APP": "0",
        "ALL_NICS_PAR": "--all_nics" if process_bool(cfg.get("all_nics", "False")) else "",
        "CHECK_WITH_SESSION_PAR": "",
    }
    if args.slurm_template:
        with open(args.slurm_template) as f:
            tmpl = string.Template(f.read()).safe_substitute(session_id=session_id,
                                                              dlg_root=dlg_root)
        text = tmpl + "\n\n" + COMMAND
    else:
        text = (DEFAULT_TEMPLATE + "\n$MODULES\nexport DLG_ROOT=$DLG_ROOT\n$VENV\n\n" + COMMAND)
    text = string.Template(text).safe_substitute(params) + "\n"
    jobsub = os.path.join(session_dir, "jobsub.sh")
    with open(jobsub, "w") as f:
        f.write(text)
    print("Created job submission script %s" % jobsub)


if __name__ == "__main__":
    main()
