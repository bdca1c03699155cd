#!/usr/bin/env python3
"""pymesos 0.3.15 compatibility client (Mesos v1 scheduler HTTP API).

Written like pymesos' own examples/scheduler.py: a `Scheduler` subclass
driven by `MesosSchedulerDriver`, with offers and updates handled as addict
dicts (attribute access).

Scenario:
  * subscribe as framework `compat-pymesos`, user `root`;
  * on the first offer that fits, launch one command task `hello`
    (`echo hello; sleep 1`, cpus 0.1, mem 32, role "*"); decline every other
    offer;
  * record every status update of that task (implicit acknowledgements, the
    pymesos default, ack each update that carries a uuid);
  * when the task is terminal, read its sandbox stdout through the agent's
    `/files/read` endpoint (agent address from the offer's `url`);
  * stop the driver (`driver.stop()` sends TEARDOWN).

Prints exactly one JSON line on stdout:
  {"framework_id", "first_offer_seconds", "states", "updates", "stdout", "task_id"}
plus "error" when something failed or timed out (exit status 1 then).
Diagnostics go to stderr. The process always terminates (os._exit).

Usage: pymesos_scheduler.py --master HOST:PORT [--timeout SECONDS]
                            [--principal P --secret S]  (HTTP basic credentials)
"""

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid

# MESOS_LOCAL only changes pymesos' *executor* behaviour; a scheduler must not
# inherit it from a test harness by accident.
os.environ.pop("MESOS_LOCAL", None)

from addict import Dict  # noqa: E402  (pymesos dependency)
from pymesos import MesosSchedulerDriver, Scheduler  # noqa: E402
from scenario import (  # noqa: E402  (the sibling module shared with the other program)
    TASK_COMMAND,
    TASK_CPUS,
    TASK_MEM,
    TASK_NAME,
    TERMINAL_STATES,
    Result,
    emit_and_exit,
    read_sandbox_stdout,
    start_watchdog,
)

FRAMEWORK_NAME = "compat-pymesos"
logger = logging.getLogger("compat-pymesos")


class CompatScheduler(Scheduler):
    def __init__(self, result, started_at):
        self.result = result
        self.started_at = started_at

    def registered(self, driver, frameworkId, masterInfo):
        logger.info("registered: framework %s, master %s", frameworkId.value, masterInfo)
        with self.result.lock:
            self.result.framework_id = frameworkId.value

    def reregistered(self, driver, masterInfo):
        logger.info("reregistered: master %s", masterInfo)

    def disconnected(self, driver):
        logger.info("disconnected")

    def resourceOffers(self, driver, offers):
        result = self.result
        with result.lock:
            if result.first_offer_seconds is None:
                result.first_offer_seconds = round(time.monotonic() - self.started_at, 3)
            launched = result.task_id is not None

        decline = []
        for offer in offers:
            logger.info(
                "offer %s from agent %s (%s): cpus=%s mem=%s",
                offer.id.value,
                offer.agent_id.value,
                offer.hostname,
                self.getResource(offer.resources, "cpus"),
                self.getResource(offer.resources, "mem"),
            )
            cpus = self.getResource(offer.resources, "cpus")
            mem = self.getResource(offer.resources, "mem")
            if launched or cpus < TASK_CPUS or mem < TASK_MEM:
                decline.append(offer.id)
                continue

            task = Dict()
            task_id = str(uuid.uuid4())
            task.task_id.value = task_id
            task.agent_id.value = offer.agent_id.value
            task.name = TASK_NAME
            task.command.value = TASK_COMMAND
            task.resources = [
                dict(name="cpus", type="SCALAR", role="*", scalar={"value": TASK_CPUS}),
                dict(name="mem", type="SCALAR", role="*", scalar={"value": TASK_MEM}),
            ]

            with result.lock:
                result.task_id = task_id
                result.offer = offer.to_dict()
            launched = True
            logger.info("launching task %s on offer %s", task_id, offer.id.value)
            try:
                driver.launchTasks(offer.id, [task])
            except Exception as e:  # non-2xx answer raises RuntimeError
                result.fail("launchTasks failed: %s" % (e,))
                return

        if decline:
            logger.info("declining %d offer(s)", len(decline))
            try:
                driver.declineOffer(decline)
            except Exception as e:
                result.fail("declineOffer failed: %s" % (e,))

    def getResource(self, res, name):
        total = 0.0
        for r in res:
            if r.name == name and r.type == "SCALAR":
                total += r.scalar.value
        return total

    def offerRescinded(self, driver, offerId):
        logger.info("offer rescinded: %s", offerId.value)

    def statusUpdate(self, driver, update):
        logger.info(
            "status update: task %s %s (source %s, reason %s, message %r)",
            update.task_id.value,
            update.state,
            update.get("source"),
            update.get("reason"),
            update.get("message"),
        )
        result = self.result
        with result.lock:
            if update.task_id.value != result.task_id:
                return
            result.states.append(update.state)
            result.updates.append(
                {
                    "state": update.state,
                    "has_uuid": "uuid" in update,
                    "has_agent_id": "agent_id" in update,
                    "source": update.get("source"),
                }
            )
        if update.state in TERMINAL_STATES:
            result.done.set()
        # pymesos acknowledges the update itself after this returns
        # (implicit_acknowledgements=True, the default).

    def slaveLost(self, driver, agentId):
        logger.info("agent lost: %s", agentId.value)

    def error(self, driver, message):
        self.result.fail("ERROR event from master: %s" % (message,))


def http_get_json(url, timeout):
    # Plain stdlib client: the agent is not part of either client library.
    from urllib.request import urlopen

    with urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def parse_master(master):
    # pymesos wants "host:port" (or zk://...), not a URL.
    for prefix in ("http://", "https://"):
        if master.startswith(prefix):
            master = master[len(prefix):]
    return master.rstrip("/")


def stop_driver(driver, wait):
    """driver.stop() sends TEARDOWN from the driver thread; wait for it."""
    try:
        driver.stop()
    except Exception as e:
        logger.warning("driver.stop() failed: %s", e)
        return
    joiner = threading.Thread(target=driver.join, name="join-driver", daemon=True)
    joiner.start()
    joiner.join(wait)
    if joiner.is_alive():
        logger.warning("driver thread did not stop within %.1fs", wait)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", required=True, help="master HOST:PORT")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="overall time limit in seconds (default 30)"
    )
    parser.add_argument("--principal", help="authenticate as this principal (with --secret)")
    parser.add_argument("--secret", help="the secret of --principal")
    args = parser.parse_args()

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s",
    )
    # pymesos installs its own stderr handler; avoid printing everything twice.
    logging.getLogger("pymesos").propagate = False

    result = Result(logger)
    started_at = time.monotonic()
    deadline = started_at + args.timeout
    # Stopping the client takes a few more seconds at most; past this, give up.
    start_watchdog(result, args.timeout + 20.0)
    driver = None
    try:
        framework = Dict()
        framework.user = "root"
        framework.name = FRAMEWORK_NAME
        framework.hostname = socket.gethostname()

        driver = MesosSchedulerDriver(
            CompatScheduler(result, started_at),
            framework,
            parse_master(args.master),
            use_addict=True,
            principal=args.principal,
            secret=args.secret,
        )
        driver.start()

        # Wait for a terminal state (or an error). If the driver thread dies,
        # pymesos re-raises its exception here through SIGINT; `aborted`
        # covers the case where that does not happen.
        while not result.done.wait(0.1):
            if driver.aborted:
                result.fail("pymesos driver thread aborted (see stderr)")
                break
            if time.monotonic() >= deadline:
                with result.lock:
                    phase = (
                        "SUBSCRIBED" if result.framework_id is None
                        else "an offer" if result.first_offer_seconds is None
                        else "an offer that fits the task" if result.task_id is None
                        else "a terminal state of task %s" % result.task_id
                    )
                result.fail("timeout after %.1fs waiting for %s" % (args.timeout, phase))
                break

        with result.lock:
            ok = result.error is None
            offer, framework_id, task_id = result.offer, result.framework_id, result.task_id
        if ok:
            data = read_sandbox_stdout(offer, framework_id, task_id, deadline, http_get_json, logger)
            with result.lock:
                result.stdout = data
    except BaseException as e:  # includes errors re-raised from the driver thread
        result.fail("%s: %s" % (type(e).__name__, e))

    # No more re-raising from the driver thread from here on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if driver is not None:
            # TEARDOWN only goes out once subscribed; otherwise don't linger
            # (the driver thread may sit in a connect back-off sleep).
            stop_driver(driver, wait=5.0 if result.framework_id else 1.0)
    except BaseException as e:
        logger.warning("stopping the driver failed: %s", e)

    emit_and_exit(result)


if __name__ == "__main__":
    main()
