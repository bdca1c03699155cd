"""The `marathon` Python client (PyPI, strict models) drives one web app through its life:
create 5 instances of `python3 -m http.server $PORT0`, check that every task answers HTTP on
its port, scale to 8 and to 2 (the youngest tasks go first), kill a task (it is replaced),
parse every other response shape with the client's models, and delete the app.

Prints one JSON line with what it saw; exits non-zero with a message on the first failure.

    python marathon_web_app.py --url http://127.0.0.1:8080 [--timeout 60]
"""

import argparse
import json
import sys
import time
import urllib.request

from marathon import MarathonClient
from marathon.models import MarathonApp

APP_ID = "web"


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def eventually(timeout, what, check):
    """Polls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # the server may briefly answer with an error while converging
            last = "error: %r" % (e,)
            result = None
        else:
            result = last
        if result:
            return result
        time.sleep(0.1)
    fail("timed out waiting for %s (last: %r)" % (what, last))


def running_tasks(client):
    """The app's tasks once its deployment is over and every task runs, else None."""
    app = client.get_app(APP_ID, embed_tasks=True, embed_counts=True, embed_deployments=True)
    if app.deployments:
        return None
    if any(t.state != "TASK_RUNNING" for t in app.tasks):
        return None
    if len(app.tasks) != app.instances or app.tasks_running != app.instances:
        return None
    return app.tasks


def wait_running(client, instances, timeout):
    def check():
        tasks = running_tasks(client)
        return tasks if tasks is not None and len(tasks) == instances else None

    return eventually(timeout, "%d running tasks" % instances, check)


def answers_http(task):
    with urllib.request.urlopen("http://127.0.0.1:%d/" % task.ports[0], timeout=5) as response:
        return response.status == 200


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    client = MarathonClient(args.url)
    seen = {}

    app = MarathonApp(cmd="python3 -m http.server $PORT0", cpus=0.1, mem=32, instances=5)
    created = client.create_app(APP_ID, app)
    if not created:
        fail("create_app did not answer 201 with an app")
    if created.id != "/web" or created.instances != 5:
        fail("unexpected created app: %r" % (created.to_json(),))
    deployments = client.list_deployments()
    seen["deployments_after_create"] = len(deployments)

    five = wait_running(client, 5, args.timeout)
    for task in five:
        eventually(args.timeout, "task %s to answer HTTP" % task.id, lambda: answers_http(task))
    seen["ports"] = sorted(t.ports[0] for t in five)
    original = {t.id for t in five}

    client.scale_app(APP_ID, instances=8)
    eight = wait_running(client, 8, args.timeout)
    started = {t.id: t.started_at for t in eight}

    client.scale_app(APP_ID, instances=2)
    two = wait_running(client, 2, args.timeout)
    kept = {t.id for t in two}
    if not kept <= original:
        fail("scaling down kept tasks started later: %r" % (sorted(kept - original),))
    killed = set(started) - kept
    if max(started[t] for t in kept) > min(started[t] for t in killed):
        fail("scaling down did not kill the youngest tasks first")
    seen["kept"] = sorted(kept)

    victim = sorted(kept)[0]
    killed_task = client.kill_task(APP_ID, victim)
    if killed_task.id != victim:
        fail("kill_task answered with %r" % (killed_task.id,))

    def replaced():
        tasks = running_tasks(client)
        ids = {t.id for t in tasks or []}
        return tasks if len(ids) == 2 and victim not in ids else None

    after_kill = eventually(args.timeout, "the killed task to be replaced", replaced)
    seen["after_kill"] = sorted(t.id for t in after_kill)

    # Every other response shape, through the strict models.
    client.list_apps(
        embed_tasks=True,
        embed_counts=True,
        embed_deployments=True,
        embed_readiness=True,
        embed_last_task_failure=True,
        embed_failures=True,
        embed_task_stats=True,
    )
    client.list_apps(cmd="http.server", app_id="we", label=None)
    client.get_app(APP_ID, embed_task_stats=True, embed_readiness=True, embed_last_task_failure=True)
    client.list_tasks()
    client.list_tasks(APP_ID)
    client.list_queue()
    client.list_queue(embed_last_unused_offers=True)
    info = client.get_info()
    seen["info_version"] = info.version
    seen["leader"] = client.get_leader()
    seen["versions"] = len(client.list_versions(APP_ID))
    client.ping()

    client.delete_app(APP_ID, force=True)
    eventually(args.timeout, "the app to be gone", lambda: client.list_apps() == [])
    eventually(args.timeout, "no deployments", lambda: client.list_deployments() == [])
    eventually(args.timeout, "no tasks", lambda: client.list_tasks() == [])

    seen["ok"] = True
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
