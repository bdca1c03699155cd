"""What the pymesos and mesoshttp compatibility programs share: the scenario's
constants, the result they print as one JSON line, the hard-timeout watchdog,
and reading the task's sandbox stdout from the agent."""

import json
import os
import sys
import threading
import time

TASK_NAME = "hello"
TASK_COMMAND = "echo hello; sleep 1"
TASK_CPUS = 0.1
TASK_MEM = 32.0

TERMINAL_STATES = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}



class Result(object):
    """Everything the scenario collects; shared between the client's thread and the main thread."""

    def __init__(self, logger):
        self.logger = logger
        self.lock = threading.Lock()
        self.done = threading.Event()  # terminal task state, or an error
        self.framework_id = None
        self.first_offer_seconds = None
        self.task_id = None
        self.offer = None  # the offer the task was launched on (plain dict)
        self.states = []
        self.updates = []
        self.stdout = None
        self.error = None

    def fail(self, message):
        with self.lock:
            if self.error is None:
                self.error = message
        self.logger.error("%s", message)
        self.done.set()

    def to_json(self):
        with self.lock:
            out = {
                "framework_id": self.framework_id,
                "first_offer_seconds": self.first_offer_seconds,
                "states": list(self.states),
                "updates": list(self.updates),
                "stdout": self.stdout,
                "task_id": self.task_id,
            }
            if self.error is not None:
                out["error"] = self.error
        return json.dumps(out)


_emit_lock = threading.Lock()


def emit_and_exit(result, code=None):
    """Print the one JSON line and end the process; runs at most once.

    A second caller blocks here until the first one's os._exit(): client
    library threads may still be alive, so nothing else ends the process.
    """
    _emit_lock.acquire()
    if code is None:
        code = 0 if result.error is None else 1
    sys.stdout.write(result.to_json() + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def start_watchdog(result, seconds):
    """Last resort if a client call hangs with no timeout of its own."""

    def fire():
        result.fail("hard timeout: still running %.0fs after start" % (seconds,))
        emit_and_exit(result, 1)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def read_sandbox_stdout(offer, framework_id, task_id, deadline, get_json, logger):
    """GET /files/read on the agent that made the offer; returns the data.

    `get_json(url, timeout)` does the request with the client library's own HTTP stack.
    """
    from urllib.parse import quote

    url = offer.get("url") or {}
    address = url.get("address") or {}
    host = address.get("ip") or address.get("hostname") or offer.get("hostname")
    port = address.get("port") or 5051
    if host and ":" in host and not host.startswith("["):
        host = "[%s]" % host  # IPv6 literal
    path = "/frameworks/%s/executors/%s/runs/latest/stdout" % (framework_id, task_id)
    full = "http://%s:%s/files/read?path=%s&offset=0" % (host, port, quote(path, safe="/"))

    last_error = None
    while True:
        try:
            logger.info("GET %s", full)
            body = get_json(full, timeout=max(0.5, min(5.0, deadline - time.monotonic())))
            return body["data"]
        except Exception as e:  # retried: the agent may lag behind the update
            last_error = e
            logger.warning("reading sandbox stdout failed: %s", e)
        if time.monotonic() + 0.25 >= deadline:
            raise RuntimeError("GET %s failed: %s" % (full, last_error))
        time.sleep(0.25)
