"""The `marathon` Python client follows /v2/events (every event parsed by its EventFactory,
which rejects unknown event types) while an app is created, restarted and deleted.

Prints one JSON line: the events seen, each as {"type", "deploymentId"?, "taskStatus"?}.

    python marathon_events.py --url http://127.0.0.1:8080 [--timeout 60]
"""

import argparse
import json
import sys
import threading
import time

from marathon import MarathonClient
from marathon.models import MarathonApp

APP_ID = "events-app"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    client = MarathonClient(args.url)
    seen = []
    lock = threading.Lock()
    errors = []

    def listen():
        try:
            for event in MarathonClient(args.url).event_stream():
                entry = {"type": event.event_type}
                plan = getattr(event, "plan", None)
                if plan is not None:
                    entry["deploymentId"] = plan.id
                elif event.event_type.startswith("deployment_"):
                    entry["deploymentId"] = getattr(event, "id", None)
                for attribute in ("task_status", "app_id", "condition"):
                    if getattr(event, attribute, None) is not None:
                        entry[attribute] = getattr(event, attribute)
                with lock:
                    seen.append(entry)
        except Exception as e:  # the stream must not fail
            errors.append(repr(e))

    threading.Thread(target=listen, daemon=True).start()

    def wait_for(what, predicate):
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if errors:
                print(json.dumps({"ok": False, "error": errors[0], "events": seen}))
                sys.exit(1)
            with lock:
                if predicate(list(seen)):
                    return
            time.sleep(0.05)
        print(json.dumps({"ok": False, "error": "timed out waiting for " + what, "events": seen}))
        sys.exit(1)

    wait_for("the stream to attach", lambda s: any(e["type"] == "event_stream_attached" for e in s))
    created = client.create_app(APP_ID, MarathonApp(cmd="sleep 600", cpus=0.01, mem=8, instances=1))
    deployment = created.deployments[0].id

    def succeeded(deployment_id):
        return lambda s: any(e["type"] == "deployment_success" and e.get("deploymentId") == deployment_id for e in s)

    wait_for("the create deployment to succeed", succeeded(deployment))
    restart = client.restart_app(APP_ID)["deploymentId"]
    wait_for("the restart to succeed", succeeded(restart))
    client.delete_app(APP_ID, force=True)
    wait_for("the app to terminate", lambda s: any(e["type"] == "app_terminated_event" for e in s))
    with lock:
        print(json.dumps({"ok": True, "create": deployment, "restart": restart, "events": seen}))


if __name__ == "__main__":
    main()
