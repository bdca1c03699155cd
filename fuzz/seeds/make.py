#!/usr/bin/env python3
"""Writes the seed corpus, fuzz/corpus/<target>/seed-*, from real examples taken from the tests
(crates/marathon/tests/fuzz.rs templates, the master's and agent's core tests, the checkpoint
tests). Run it again after changing it; inputs the fuzzers found are kept next to the seeds."""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def recordio(records):
    out = b""
    for r in records:
        if not isinstance(r, bytes):
            r = json.dumps(r, separators=(",", ":")).encode()
        out += str(len(r)).encode() + b"\n" + r
    return out


APPS = {
    "plain": {"id": "/f/plain", "cmd": "sleep 600", "cpus": 0.01, "mem": 8},
    "ports": {"id": "/f/ports", "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": 2,
              "portDefinitions": [{"port": 0, "name": "http", "protocol": "tcp"}], "requirePorts": False},
    "health": {"id": "/f/health", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
               "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 5,
                                 "intervalSeconds": 2, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}],
               "readinessChecks": [{"name": "ready", "protocol": "HTTP", "path": "/", "portName": "http",
                                    "intervalSeconds": 5, "timeoutSeconds": 2, "httpStatusCodesForReady": [200]}],
               "portDefinitions": [{"port": 0, "name": "http"}]},
    "strategy": {"id": "/f/strategy", "args": ["sleep", "600"], "cpus": 0.01, "mem": 8, "instances": 3,
                 "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
                 "unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 20},
                 "killSelection": "OLDEST_FIRST", "backoffSeconds": 1, "backoffFactor": 1.5,
                 "maxLaunchDelaySeconds": 30},
    "placed": {"id": "/f/placed", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
               "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"], ["hostname", "MAX_PER", "1"]],
               "acceptedResourceRoles": ["*"], "labels": {"a": "b"}, "env": {"K": "V"},
               "fetch": [{"uri": "http://127.0.0.1:1/missing.tgz", "extract": True}], "dependencies": ["/f/plain"]},
    "container": {"id": "/f/container", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
                  "container": {"type": "MESOS", "volumes": []}, "networks": [{"mode": "host"}],
                  "taskKillGracePeriodSeconds": 2, "user": "root"},
    "commandcheck": {"id": "/f/commandcheck", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
                     "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}},
                                      {"protocol": "MESOS_TCP", "portIndex": 0}, {"protocol": "TCP", "portIndex": 0}],
                     "portDefinitions": [{"port": 0}]},
    "docker": {"id": "/f/docker", "cmd": "sleep 600", "cpus": 0.01, "mem": 8,
               "container": {"type": "DOCKER", "docker": {"image": "busybox", "parameters": [{"key": "label", "value": "a=b"}]},
                             "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "web"}],
                             "volumes": [{"containerPath": "/data", "hostPath": "/tmp", "mode": "RO"}]},
               "networks": [{"mode": "container/bridge"}]},
    "deprecated": {"id": "f/old", "cmd": "sleep 600", "ports": [0, 0], "uris": ["http://x/y.tgz"],
                   "ipAddress": None, "env": {"SECRET": "x"}},
}
for name, app in APPS.items():
    write("app_json", name, app)

write("app_update_json", "scale", {"instances": 3})
write("app_update_json", "cmd", {"cmd": "sleep 5", "env": {"A": "b"}, "labels": {"x": "y"}})
write("app_update_json", "list", [{"id": "/fuzz/app", "cmd": "sleep 5"}, {"id": "/fuzz/other", "instances": 0}])
write("app_update_json", "ports", {"portDefinitions": [{"port": 0, "name": "http"}],
                                    "healthChecks": [{"protocol": "TCP", "portIndex": 0}]})
write("app_update_json", "docker", {"container": APPS["docker"]["container"], "networks": [{"mode": "container/bridge"}]})

write("group_json", "nested", {"id": "/fuzz/g", "apps": [{"id": "a", "cmd": "sleep 1", "dependencies": ["../b"]},
                                                      {"id": "/fuzz/g/b", "cmd": "sleep 1"}],
                              "groups": [{"id": "sub", "dependencies": ["/fuzz/g"],
                                          "apps": [{"id": "c", "cmd": "sleep 1"}]}]})
write("group_json", "scale", {"scaleBy": 2})
write("group_json", "deps", {"dependencies": ["/other"], "apps": [APPS["plain"] | {"id": "plain"}]})
write("group_json", "cycle", {"apps": [{"id": "a", "cmd": "x", "dependencies": ["b"]},
                                      {"id": "b", "cmd": "x", "dependencies": ["a"]}]})

write("query_string", "embed", "embed=apps.tasks&embed=apps.counts&embed=group.groups&force=true&dryRun=0")
write("query_string", "label", "label=a==1,b!=2,c+in+(x,+y),d+notin+(z)&id=/a/b")
write("query_string", "escapes", "label=b\\ c&label=a%3D%3D1&scale=true&wipe=false&partial=1")

write("recordio", "events", b"\x05" + recordio([{"type": "HEARTBEAT"}, b"abc", {"type": "SUBSCRIBED"}]))
write("recordio", "one", b"\x01" + recordio([b"x" * 30]))
write("recordio", "bad", b"\x02" + b"3\nabc12x\n")

FW = "m-0000"
TASK = {"name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "m-S0"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}],
        "command": {"value": "sleep 100", "shell": True}}
calls = [
    {"type": "ACCEPT", "framework_id": {"value": FW},
     "accept": {"offer_ids": [{"value": "m-O0"}], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [TASK]}}],
                "filters": {"refuse_seconds": 1}}},
    {"type": "RECONCILE", "framework_id": {"value": FW}, "reconcile": {"tasks": [{"task_id": {"value": "t1"}}]}},
    {"type": "ACKNOWLEDGE", "framework_id": {"value": FW},
     "acknowledge": {"agent_id": {"value": "m-S0"}, "task_id": {"value": "t1"}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}},
    {"type": "KILL", "framework_id": {"value": FW}, "kill": {"task_id": {"value": "t1"}}},
    {"type": "DECLINE", "framework_id": {"value": FW}, "decline": {"offer_ids": [{"value": "m-O1"}]}},
    {"type": "REVIVE", "framework_id": {"value": FW}},
    {"type": "SUPPRESS", "framework_id": {"value": FW}},
    {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "other", "roles": ["a"],
                                                           "capabilities": [{"type": "MULTI_ROLE"}]}}},
    {"type": "TEARDOWN", "framework_id": {"value": FW}},
]
write("mesos_call", "session", "\n".join(json.dumps(c, separators=(",", ":")) for c in calls))
write("mesos_call", "launch", json.dumps(calls[0], separators=(",", ":")))

MASTER = {"id": "m", "ip": 16777343, "port": 5050, "pid": "master@127.0.0.1:5050", "hostname": "m", "version": "1.11.0"}
FWINFO = {"user": "root", "name": "fw", "id": {"value": "F"}, "checkpoint": True}
events = [
    {"type": "REGISTERED", "registered": {"agent_id": {"value": "A1"}, "master_info": MASTER, "ping_interval_seconds": 1.0}},
    {"type": "PING"},
    {"type": "RUN_TASK", "framework": FWINFO, "task": TASK | {"agent_id": {"value": "A1"}}},
    {"type": "KILL_TASK", "framework_id": {"value": "F"}, "task_id": {"value": "t1"},
     "kill_policy": {"grace_period": {"nanoseconds": 1000000000}}},
    {"type": "ACKNOWLEDGE", "framework_id": {"value": "F"}, "task_id": {"value": "t1"}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="},
    {"type": "SHUTDOWN_FRAMEWORK", "framework_id": {"value": "F"}},
]
write("agent_protocol", "events", recordio(events))
agent_calls = [
    {"type": "STATUS_UPDATE", "status_update": {"framework_id": {"value": FW},
                                                "status": {"task_id": {"value": "t1"}, "state": "TASK_RUNNING",
                                                           "agent_id": {"value": "m-S0"}, "source": "SOURCE_EXECUTOR",
                                                           "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="},
                                                "latest_state": "TASK_RUNNING"}},
    {"type": "PONG", "agent_id": {"value": "m-S0"}},
    {"type": "REGISTER", "register": {"agent_info": {"hostname": "h2", "port": 5052}, "endpoint": "127.0.0.1:5052"}},
]
write("agent_protocol", "calls", recordio(agent_calls + events[:2]))

RUN = {"agent_id": {"value": "A1"}, "framework_id": {"value": "F"}, "executor_id": {"value": "t1"},
       "container_id": "c1", "task_id": {"value": "t1"}}
TINFO = {"name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "A1"}, "command": {"value": "sleep 1"}}
log = [
    {"framework": {"agent_id": {"value": "A1"}, "info": FWINFO}},
    {"task": {"run": RUN, "info": TINFO, "containerizer": "docker"}},
    {"record": {"run": RUN, "record": {"update": {"task_id": {"value": "t1"}, "state": "TASK_STARTING", "uuid": "u1"}}}},
    {"record": {"run": RUN, "record": {"ack": "u1"}}},
    {"record": {"run": RUN, "record": "kill"}},
    {"launched": {"container_id": "c1", "process": {"monitor_pid": 10, "task_pid": 11, "monitor_start_ticks": 12}}},
    {"launched": {"container_id": "c2", "process": {"monitor_pid": 20, "task_pid": 21, "monitor_start_ticks": 22}}},
    {"destroyed": {"container_id": "c2"}},
]
text = "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in log)
write("checkpoint_replay", "log", text)
write("checkpoint_replay", "torn", text + '{"record":{"run":')
write("checkpoint_replay", "removed", text + json.dumps({"remove_run": {"run": RUN}}) + "\n"
      + json.dumps({"forget_agent": {"agent_id": {"value": "A1"}}}) + "\n")
