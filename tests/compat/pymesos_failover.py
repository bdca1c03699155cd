#!/usr/bin/env python3
"""pymesos 0.3.15 across a master failover: the master is given as zk://HOSTS/PATH, so pymesos'
own ZooKeeper detector (kazoo) finds the leading master and follows it when another is elected.

Scenario (a highly available framework: failover_timeout 1 hour, checkpointing):
  * subscribe; launch one command task (`sleep 600`) on the first offer that fits;
  * once it runs, wait for a new leading master (the test kills the leader meanwhile);
  * re-registered there (pymesos resubscribes with its framework id), reconcile the first
    task and launch a second one on the next offer that fits.

Prints one JSON line per event on stdout, as it happens:
  {"event": "registered", "framework_id", "master"}
  {"event": "update", "task_id", "state", "phase"}     (phase 1 before re-registration, 2 after)
  {"event": "disconnected"}
  {"event": "reregistered", "framework_id", "master"}
  {"event": "launched", "task_id", "phase"}
Diagnostics go to stderr. The process ends itself after --timeout seconds (os._exit).

Usage: pymesos_failover.py --master zk://HOSTS/PATH [--timeout SECONDS]
"""

import argparse
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid

os.environ.pop("MESOS_LOCAL", None)

from addict import Dict  # noqa: E402
from pymesos import MesosSchedulerDriver, Scheduler  # noqa: E402

logger = logging.getLogger("compat-pymesos-failover")
_print_lock = threading.Lock()

TASK_CPUS = 0.1
TASK_MEM = 32.0


def emit(**event):
    with _print_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


class FailoverScheduler(Scheduler):
    def __init__(self):
        self.lock = threading.Lock()
        self.phase = 1
        self.launched = {}  # phase -> task id
        self.first_task = None

    def registered(self, driver, frameworkId, masterInfo):
        emit(event="registered", framework_id=frameworkId.value, master=driver.master)

    def reregistered(self, driver, masterInfo):
        with self.lock:
            self.phase = 2
            first = self.first_task
        emit(event="reregistered", framework_id=driver.framework_id, master=driver.master)
        if first is not None:
            driver.reconcileTasks([{"task_id": {"value": first}}])
        driver.reviveOffers()

    def disconnected(self, driver):
        emit(event="disconnected")

    def resourceOffers(self, driver, offers):
        decline = []
        for offer in offers:
            cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus" and r.type == "SCALAR")
            mem = sum(r.scalar.value for r in offer.resources if r.name == "mem" and r.type == "SCALAR")
            with self.lock:
                phase = self.phase
                wanted = phase not in self.launched and cpus >= TASK_CPUS and mem >= TASK_MEM
                if wanted:
                    task_id = "failover-%d-%s" % (phase, uuid.uuid4())
                    self.launched[phase] = task_id
                    if phase == 1:
                        self.first_task = task_id
            if not wanted:
                decline.append(offer.id)
                continue
            task = Dict()
            task.task_id.value = task_id
            task.agent_id.value = offer.agent_id.value
            task.name = "failover-%d" % phase
            task.command.value = "sleep 600"
            task.resources = [
                dict(name="cpus", type="SCALAR", role="*", scalar={"value": TASK_CPUS}),
                dict(name="mem", type="SCALAR", role="*", scalar={"value": TASK_MEM}),
            ]
            driver.launchTasks(offer.id, [task])
            emit(event="launched", task_id=task_id, phase=phase)
        if decline:
            driver.declineOffer(decline, filters={"refuse_seconds": 1.0})

    def statusUpdate(self, driver, update):
        with self.lock:
            phase = self.phase
        emit(event="update", task_id=update.task_id.value, state=update.state, phase=phase,
             reason=update.get("reason"))

    def error(self, driver, message):
        emit(event="error", message=message)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", required=True, help="zk://HOSTS/PATH")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s",
    )
    logging.getLogger("pymesos").propagate = False

    def watchdog():
        time.sleep(args.timeout)
        emit(event="timeout")
        os._exit(1)

    threading.Thread(target=watchdog, name="watchdog", daemon=True).start()

    framework = Dict()
    framework.user = "root"
    framework.name = "compat-pymesos-failover"
    framework.hostname = socket.gethostname()
    framework.failover_timeout = 3600.0
    framework.checkpoint = True
    driver = MesosSchedulerDriver(FailoverScheduler(), framework, args.master, use_addict=True)
    driver.start()
    try:
        while not driver.aborted:
            time.sleep(0.2)
        emit(event="error", message="pymesos driver thread aborted (see stderr)")
    except BaseException as e:  # errors re-raised from the driver thread
        emit(event="error", message="%s: %s" % (type(e).__name__, e))
    os._exit(1)


if __name__ == "__main__":
    main()
