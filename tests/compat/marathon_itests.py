"""The scenarios of the `marathon` client's own integration tests (marathon-python's
`itests`: metadata, trivial and complex apps, deployments, tasks, events), written again
for this repository and run with the installed client against a Marathon whose agents
have the Docker containerizer (`marathon local --containerizers docker,mesos`).

The complex app is a Docker app on the bridge with a port mapping (host port from the
offer), a `docker run` parameter, a read-only host volume, a fetched URI and an HTTP
health check; unlike upstream's (a fake image that never runs), it must run and serve,
so the scenario also checks what the container sees. Every scenario ends as upstream's
do: every app deleted (forced) and no deployment left.

Prints one JSON line (the scenarios passed, or the first failure) and exits 0 only if
every scenario passed.
"""

import argparse
import collections
import collections.abc
import json
import sys
import threading
import time
import urllib.request

# The client's JSON encoders use `collections.Iterable`, which Python 3.10 removed: every
# app with a nested object (a container, a health check) fails to encode without this alias.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable

import marathon  # noqa: E402
from marathon.models.app import MarathonApp, MarathonHealthCheck  # noqa: E402

TIMEOUT = 45.0


def eventually(what, probe, timeout=TIMEOUT):
    """Polls `probe` until it returns something truthy; raises with `what` after `timeout`."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = probe()
        except Exception as e:  # the API may answer an error while things settle
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def http_text(url):
    with urllib.request.urlopen(url, timeout=3) as response:
        return response.read().decode()


def cleanup(client):
    """As upstream's `after_scenario`: delete every app (forced) until none is left, then
    wait until no deployment is left."""
    def gone():
        apps = client.list_apps()
        for app in apps:
            client.delete_app(app.id, force=True)
        return not apps
    eventually("every app deleted", gone)
    eventually("no deployment left", lambda: not client.list_deployments())


def create_trivial(client):
    client.create_app("test-trivial-app", MarathonApp(cmd="sleep 3600", mem=16, cpus=0.1, instances=5))


def wait_deployed(client, app_id):
    """As upstream's `we wait the ... app deployment finish`."""
    eventually("the deployment of %s to finish" % app_id,
               lambda: not client.get_app(app_id, embed_tasks=True).deployments)


def scenario_metadata(client, args):
    info = client.get_info()
    assert info and info.version, info


def scenario_trivial_app(client, args):
    create_trivial(client)
    assert client.get_app("test-trivial-app")
    assert "/test-trivial-app" in [a.id for a in client.list_apps()]
    eventually("5 running tasks", lambda: client.get_app("test-trivial-app").tasks_running == 5)


def scenario_complex_app(client, args):
    app = MarathonApp(**{
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": args.image,
                "network": "BRIDGE",
                "portMappings": [{"protocol": "tcp", "name": "myport", "containerPort": 8888, "hostPort": 0}],
                "parameters": [{"key": "add-host", "value": "google-public-dns-a.google.com:8.8.8.8"}],
            },
            "volumes": [{"hostPath": args.volume, "containerPath": "/etc/stuff", "mode": "RO"}],
        },
        "instances": 1,
        "mem": 30,
        "cpus": 0.25,
        "backoff_factor": 2,
        "backoff_seconds": 1,
        "uris": [args.uri],
        "constraints": None,
        # What the container sees, served next to the image's own page.
        "cmd": "cp /etc/stuff/marker /www/marker && grep google-public /etc/hosts > /www/hosts"
               " && cp $MESOS_SANDBOX/" + args.uri.rsplit("/", 1)[-1] + " /www/fetched"
               " && echo ok > /www/health && exec httpd -f -p 8888 -h /www",
        "health_checks": [MarathonHealthCheck(protocol="HTTP", path="/health", grace_period_seconds=30,
                                              interval_seconds=1, port_index=0, timeout_seconds=2,
                                              max_consecutive_failures=3)],
    })
    client.create_app("test-complex-app", app)
    assert client.get_app("test-complex-app")
    running = eventually("the complex app healthy",
                         lambda: client.get_app("test-complex-app").tasks_healthy == 1)
    assert running
    task = client.list_tasks("test-complex-app")[0]
    port = task.ports[0]
    # `/v2/tasks` shows the service port Marathon assigned to the mapping.
    everywhere = [t for t in client.list_tasks() if t.id == task.id]
    assert everywhere and everywhere[0].service_ports and everywhere[0].service_ports[0] > 0, everywhere
    addresses = [ip.ip_address for ip in task.ip_addresses]
    assert addresses and not addresses[0].startswith("127."), addresses
    base = "http://127.0.0.1:%d" % port
    assert http_text(base + "/index.html") == args.index, "the image's page"
    assert http_text(base + "/marker") == args.marker, "the read-only volume"
    assert "8.8.8.8" in http_text(base + "/hosts"), "the add-host parameter"
    assert http_text(base + "/fetched") == args.marker, "the fetched URI"
    # The container's own address serves the container port.
    assert http_text("http://%s:8888/index.html" % addresses[0]) == args.index


def scenario_deployment(client, args):
    create_trivial(client)
    deployments = client.list_deployments()
    assert len(deployments) == 1, "We had %d deployments: %s" % (len(deployments), deployments)


def scenario_list_tasks(client, args):
    create_trivial(client)
    wait_deployed(client, "test-trivial-app")
    app = client.get_app("test-trivial-app")
    tasks = client.list_tasks("test-trivial-app")
    assert len(tasks) == app.instances, "we defined %d tasks, got %d" % (app.instances, len(tasks))


def scenario_kill_task(client, args):
    create_trivial(client)
    wait_deployed(client, "test-trivial-app")
    tasks = client.get_app("test-trivial-app").tasks
    client.kill_task(app_id="test-trivial-app", task_id=tasks[0].id, scale=True)
    eventually("4 instances left", lambda: client.get_app("test-trivial-app").instances == 4
               and len(client.list_tasks("test-trivial-app")) == 4)


def scenario_kill_given_tasks(client, args):
    create_trivial(client)
    wait_deployed(client, "test-trivial-app")
    tasks = client.get_app("test-trivial-app", embed_tasks=True).tasks
    killed = [tasks[i].id for i in [0, 1, 2]]
    client.kill_given_tasks(killed)
    # Replaced: five tasks again, none of the killed ones.
    eventually("the killed tasks replaced", lambda: (
        lambda now: len(now) == 5 and not set(killed) & {t.id for t in now}
        and all(t.state == "TASK_RUNNING" for t in now))(client.list_tasks("test-trivial-app")))


def scenario_events(client, args):
    events = []
    listener = threading.Thread(target=lambda: [events.append(e) for e in client.event_stream()], daemon=True)
    listener.start()
    time.sleep(0.5)
    create_trivial(client)
    wait_deployed(client, "test-trivial-app")
    tasks = client.get_app("test-trivial-app").tasks
    client.kill_task(app_id="test-trivial-app", task_id=tasks[0].id, scale=True)
    eventually("events of the stream", lambda: any(
        getattr(e, "event_type", None) == "status_update_event" for e in list(events)))
    assert len(events) >= 1, "We had %d events" % len(events)


SCENARIOS = [
    ("metadata can be fetched", scenario_metadata),
    ("trivial apps can be deployed", scenario_trivial_app),
    ("complex apps can be deployed", scenario_complex_app),
    ("deployments can be read", scenario_deployment),
    ("app tasks can be listed", scenario_list_tasks),
    ("app tasks can be killed", scenario_kill_task),
    ("a list of app tasks can be killed", scenario_kill_given_tasks),
    ("events can be listened in stream", scenario_events),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--index", required=True, help="the content of the image's /www/index.html")
    parser.add_argument("--volume", required=True, help="a host directory holding the file 'marker'")
    parser.add_argument("--marker", required=True, help="the content of that file")
    parser.add_argument("--uri", required=True, help="a file:// URI to fetch (its content: --marker)")
    args = parser.parse_args()
    client = marathon.MarathonClient(args.url)
    eventually("Marathon up", lambda: client.ping())
    passed = []
    for name, scenario in SCENARIOS:
        started = time.time()
        try:
            scenario(client, args)
            cleanup(client)
        except Exception as e:
            print(json.dumps({"passed": passed, "failed": name, "error": "%s: %s" % (type(e).__name__, e)}))
            return 1
        passed.append("%s (%.1fs)" % (name, time.time() - started))
    print(json.dumps({"passed": passed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
