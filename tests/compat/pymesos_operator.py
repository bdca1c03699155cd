#!/usr/bin/env python3
"""pymesos 0.3.15 compatibility client (Mesos v1 operator HTTP API, master side).

Uses `MesosOperatorMasterDriver` as an operator tool would: its synchronous calls
(`getHealth`, `getVersion`, `getState`, `getAgents`, `getFrameworks`, `getTasks`,
`getMaster`, `getMetrics`, `getFlags`, `getRoles`, all POSTs to `/api/v1/operator`)
and its `SUBSCRIBE` stream (the first event, SUBSCRIBED, carries the cluster state).

Expects a master with one agent and one framework running tasks.

Prints exactly one JSON line on stdout:
  {"healthy", "version", "state_tasks", "agents", "frameworks", "tasks", "master_port",
   "tasks_running_metric", "flags", "roles", "subscribed_tasks"}
plus "error" when something failed or timed out (exit status 1 then).
The process always terminates (os._exit).

Usage: pymesos_operator.py --master HOST:PORT [--timeout SECONDS]
"""

import argparse
import json
import logging
import os
import sys
import threading
import traceback

from pymesos import MesosOperatorMasterDriver


class Recorder(object):
    """What pymesos hands an `operator` for stream events (unused here)."""

    def taskAdded(self, task):
        pass

    def taskUpdated(self, update):
        pass

    def frameworkAdded(self, framework):
        pass

    def frameworkUpdated(self, framework):
        pass

    def frameworkRemoved(self, framework):
        pass

    def agentAdded(self, agent):
        pass

    def agentRemoved(self, agent_id):
        pass


class Driver(MesosOperatorMasterDriver):
    def __init__(self, master):
        super(Driver, self).__init__(master, operator=Recorder())
        self.subscribed = threading.Event()
        self.state = None

    def on_subscribed(self, info):
        self.state = info["get_state"]
        self.subscribed.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    summary = {}
    driver = Driver(args.master)
    try:
        summary["healthy"] = driver.getHealth()["get_health"]["healthy"]
        summary["version"] = driver.getVersion()["get_version"]["version_info"]["version"]
        state = driver.getState()["get_state"]
        summary["state_tasks"] = [t["task_id"]["value"] for t in state["get_tasks"]["tasks"]]
        agents = driver.getAgents()["get_agents"]["agents"]
        summary["agents"] = [a["agent_info"]["hostname"] for a in agents]
        frameworks = driver.getFrameworks()["get_frameworks"]["frameworks"]
        summary["frameworks"] = [f["framework_info"]["name"] for f in frameworks]
        tasks = driver.getTasks()["get_tasks"]["tasks"]
        summary["tasks"] = [t["task_id"]["value"] for t in tasks]
        summary["master_port"] = driver.getMaster()["get_master"]["master_info"]["port"]
        metrics = driver.getMetrics(5 * 10**9)["get_metrics"]["metrics"]
        summary["tasks_running_metric"] = next(
            (m.get("value") for m in metrics if m["name"] == "master/tasks_running"), None
        )
        summary["flags"] = len(driver.getFlags()["get_flags"]["flags"])
        summary["roles"] = [r["name"] for r in driver.getRoles()["get_roles"]["roles"]]

        driver.start()
        if not driver.subscribed.wait(args.timeout):
            raise RuntimeError("no SUBSCRIBED event in time")
        summary["subscribed_tasks"] = [t["task_id"]["value"] for t in driver.state["get_tasks"]["tasks"]]
        status = 0
    except Exception as e:  # noqa: BLE001 - reported in the summary
        traceback.print_exc()
        summary["error"] = repr(e)
        status = 1
    print(json.dumps(summary))
    sys.stdout.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
