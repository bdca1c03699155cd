#!/usr/bin/env python3
"""mesoshttp 0.4.2 compatibility client (Mesos v1 scheduler HTTP API).

Written like mesoshttp's own sample (sample/test.py): `MesosClient` with
callbacks registered through `client.on(...)`, `client.register()` running
its blocking event loop in a separate thread, offers handled through the
`Offer` wrapper (`offer.get_offer()`, `offer.accept([task])`,
`offer.decline()`), and the `SchedulerDriver` handed to the SUBSCRIBED
callback used for `tearDown()`.

Scenario:
  * subscribe as framework `compat-mesoshttp`, user `root`;
  * on the first offer that fits, launch one command task `hello`
    (`echo hello; sleep 1`, cpus 0.1, mem 32, role "*"); decline every other
    offer (mesoshttp adds `slave_id` to each TaskInfo it sends);
  * record every status update of that task (mesoshttp acknowledges each
    update that carries a uuid itself, before calling the UPDATE callback);
  * when the task is terminal, read its sandbox stdout through the agent's
    `/files/read` endpoint (agent address from the offer's `url`);
  * `driver.tearDown()` (TEARDOWN), then stop the client loop.

mesoshttp handles an event only once the next event's length line has
arrived (it splits the stream on newlines), so every wait here is a deadline,
never an assumption that events arrive instantly.

Prints exactly one JSON line on stdout:
  {"framework_id", "first_offer_seconds", "states", "updates", "stdout", "task_id"}
plus "error" when something failed or timed out (exit status 1 then).
Diagnostics go to stderr. The process always terminates (os._exit).

Usage: mesoshttp_scheduler.py --master HOST:PORT [--timeout SECONDS]
"""

import argparse
import logging
import sys
import threading
import time
import uuid

from mesoshttp.client import MesosClient
from scenario import (  # the sibling module shared with the other program
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

FRAMEWORK_NAME = "compat-mesoshttp"
logger = logging.getLogger("compat-mesoshttp")


def get_resource(resources, name):
    total = 0.0
    for r in resources:
        if r.get("name") == name and r.get("type") == "SCALAR":
            total += r.get("scalar", {}).get("value", 0.0)
    return total


class CompatFramework(object):

    class MesosFramework(threading.Thread):
        """Runs MesosClient.register(), which blocks on the event stream."""

        def __init__(self, client, result):
            threading.Thread.__init__(self, name="mesoshttp", daemon=True)
            self.client = client
            self.result = result
            self.stopping = False

        def run(self):
            try:
                res = self.client.register()
                if not self.stopping:
                    self.result.fail(
                        "MesosClient.register() returned %r: could not (re)connect "
                        "to the master (see stderr)" % (res,)
                    )
            except BaseException as e:
                if not self.stopping:
                    self.result.fail("MesosClient.register() raised %s: %s" % (type(e).__name__, e))

    def __init__(self, url, result, started_at):
        self.result = result
        self.started_at = started_at
        self.driver = None
        self.client = MesosClient(
            mesos_urls=[url],
            frameworkName=FRAMEWORK_NAME,
            frameworkUser="root",
        )
        self.client.on(MesosClient.SUBSCRIBED, self.subscribed)
        self.client.on(MesosClient.OFFERS, self.offer_received)
        self.client.on(MesosClient.UPDATE, self.status_update)
        self.client.on(MesosClient.ERROR, self.error_received)
        self.client.on(MesosClient.RESCIND, self.rescinded)
        self.client.on(MesosClient.FAILURE, self.failure)
        self.client.on(MesosClient.HEARTBEAT, self.heartbeat)
        self.client.on(MesosClient.DISCONNECTED, self.disconnected)
        self.client.on(MesosClient.RECONNECTED, self.reconnected)
        self.th = CompatFramework.MesosFramework(self.client, result)

    def start(self):
        self.th.start()

    def shutdown(self, wait):
        """TEARDOWN through the SchedulerDriver, then let the client loop end."""
        self.th.stopping = True
        # Tell the client loop to finish *before* the TEARDOWN: the master
        # closes the stream on TEARDOWN, and a loop that sees the stream end
        # with neither `stop` nor `disconnect` set sleeps 10 s and then
        # resubscribes. (mesoshttp's sample sets `client.stop = True` after
        # `driver.tearDown()`, which has that race; with `stop` set the loop
        # would also send a second TEARDOWN of its own when it reads the last
        # pending record.) `disconnect` is the flag disconnect_framework()
        # sets; that method itself is not used because it may close the
        # event stream before the TEARDOWN reaches the master.
        self.client.disconnect = True
        if self.driver is not None:
            logger.info("tearing down framework %s", self.driver.frameworkId)
            self.driver.tearDown()  # POST TEARDOWN; errors are only logged
        self.th.join(wait)
        if self.th.is_alive():
            logger.warning("mesoshttp thread still blocked on the event stream; leaving it")

    # -- callbacks (run in the mesoshttp thread) ---------------------------------

    def subscribed(self, driver):
        logger.info("SUBSCRIBED: framework %s, stream %s", driver.frameworkId, driver.streamId)
        self.driver = driver
        with self.result.lock:
            self.result.framework_id = driver.frameworkId

    def offer_received(self, offers):
        result = self.result
        with result.lock:
            if result.first_offer_seconds is None:
                result.first_offer_seconds = round(time.monotonic() - self.started_at, 3)

        for offer in offers:
            mesos_offer = offer.get_offer()
            cpus = get_resource(mesos_offer.get("resources", []), "cpus")
            mem = get_resource(mesos_offer.get("resources", []), "mem")
            logger.info(
                "offer %s from agent %s (%s): cpus=%s mem=%s",
                mesos_offer["id"]["value"],
                mesos_offer["agent_id"]["value"],
                mesos_offer.get("hostname"),
                cpus,
                mem,
            )
            with result.lock:
                launch = result.task_id is None and cpus >= TASK_CPUS and mem >= TASK_MEM
                if launch:
                    result.task_id = str(uuid.uuid4())
                    result.offer = mesos_offer
                    task_id = result.task_id
            if launch:
                self.run_job(offer, mesos_offer, task_id)
            else:
                logger.info("declining offer %s", mesos_offer["id"]["value"])
                try:
                    offer.decline()
                except Exception as e:
                    result.fail("offer.decline() failed: %s" % (e,))

    def run_job(self, offer, mesos_offer, task_id):
        task = {
            "name": TASK_NAME,
            "task_id": {"value": task_id},
            "agent_id": {"value": mesos_offer["agent_id"]["value"]},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "role": "*", "scalar": {"value": TASK_CPUS}},
                {"name": "mem", "type": "SCALAR", "role": "*", "scalar": {"value": TASK_MEM}},
            ],
            "command": {"value": TASK_COMMAND},
        }
        logger.info("launching task %s on offer %s", task_id, mesos_offer["id"]["value"])
        try:
            offer.accept([task])  # adds task["slave_id"]; the answer is not checked
        except Exception as e:
            self.result.fail("offer.accept() failed: %s" % (e,))

    def status_update(self, update):
        status = update["status"]
        logger.info(
            "UPDATE: task %s %s (source %s, reason %s, message %r)",
            status["task_id"]["value"],
            status["state"],
            status.get("source"),
            status.get("reason"),
            status.get("message"),
        )
        result = self.result
        with result.lock:
            if status["task_id"]["value"] != result.task_id:
                return
            result.states.append(status["state"])
            result.updates.append(
                {
                    "state": status["state"],
                    "has_uuid": "uuid" in status,
                    "has_agent_id": "agent_id" in status,
                    "source": status.get("source"),
                }
            )
        if status["state"] in TERMINAL_STATES:
            result.done.set()

    def error_received(self, message):
        self.result.fail("ERROR event from master: %s" % (message,))

    def rescinded(self, rescind):
        logger.info("RESCIND: %s", rescind)

    def failure(self, failure):
        logger.info("FAILURE: %s", failure)

    def heartbeat(self, _):
        logger.debug("HEARTBEAT")

    def disconnected(self, message):
        logger.warning("DISCONNECTED: %s", message)

    def reconnected(self, message):
        logger.info("RECONNECTED: %s", message)


def requests_get_json(url, timeout):
    import requests  # mesoshttp's own HTTP library

    resp = requests.get(url, timeout=timeout)
    resp.raise_for_status()
    return resp.json()


def master_url(master):
    # mesoshttp wants a base URL ("http://host:port") or zk://...
    if "://" not in master:
        master = "http://" + master
    return master.rstrip("/")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", required=True, help="master HOST:PORT")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="overall time limit in seconds (default 30)"
    )
    args = parser.parse_args()

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s",
    )
    # mesoshttp logs the calls it sends and the master's answers at DEBUG.
    logging.getLogger("mesoshttp").setLevel(logging.DEBUG)

    result = Result(logger)
    started_at = time.monotonic()
    deadline = started_at + args.timeout
    # Stopping the client takes a few more seconds at most; past this, give up.
    start_watchdog(result, args.timeout + 20.0)
    framework = None
    try:
        framework = CompatFramework(master_url(args.master), result, started_at)
        framework.start()

        if not result.done.wait(max(0.0, deadline - time.monotonic())):
            with result.lock:
                phase = (
                    "SUBSCRIBED" if result.framework_id is None
                    else "an offer" if result.first_offer_seconds is None
                    else "an offer that fits the task" if result.task_id is None
                    else "a terminal state of task %s" % result.task_id
                )
            result.fail("timeout after %.1fs waiting for %s" % (args.timeout, phase))

        with result.lock:
            ok = result.error is None
            offer, framework_id, task_id = result.offer, result.framework_id, result.task_id
        if ok:
            data = read_sandbox_stdout(offer, framework_id, task_id, deadline, requests_get_json, logger)
            with result.lock:
                result.stdout = data
    except BaseException as e:
        result.fail("%s: %s" % (type(e).__name__, e))

    try:
        if framework is not None:
            framework.shutdown(wait=3.0 if framework.driver is not None else 0.5)
    except BaseException as e:
        logger.warning("shutdown failed: %s", e)

    emit_and_exit(result)


if __name__ == "__main__":
    main()
