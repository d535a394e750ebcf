"""Stand-in for `python3 -m dlg.deploy.start_dlg_cluster` (beampipe tests only).

Reads the physical graph and exits with the code the test put into it: any dict in
the drop list may carry "beampipe_test_sleep_seconds" and "beampipe_test_exit_code".
"""
import argparse
import json
import os
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(prog="start_dlg_cluster")
    ap.add_argument("--log_dir", required=True)
    ap.add_argument("--physical-graph", dest="physical_graph", required=True)
    ap.add_argument("--ssid", required=True)
    args, _unknown = ap.parse_known_args(argv)
    with open(args.physical_graph) as f:
        pgt = json.load(f)
    sleep_s, exit_code = 0.0, 0
    for item in pgt[1]:
        if isinstance(item, dict):
            sleep_s = float(item.get("beampipe_test_sleep_seconds", sleep_s))
            exit_code = int(item.get("beampipe_test_exit_code", exit_code))
    with open(os.path.join(args.log_dir, "start_dlg_cluster.log"), "a") as log:
        log.write("session %s: sleep %s, exit %d, env keys %s\n"
                  % (args.ssid, sleep_s, exit_code, sorted(os.environ)))
    if sleep_s > 0:
        time.sleep(sleep_s)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
