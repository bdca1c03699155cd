"""Finds the leading Mesos master in ZooKeeper the way the Python clients do, and prints it.

    python zk_detect.py pymesos HOSTS/PATH
        pymesos' MasterDetector (kazoo, children of PATH, min(), DataWatch) feeding pymesos'
        own parsing of the node (MesosSchedulerDriver.onNewMasterDetectedMessage: address.ip and
        address.port). Prints `master IP:PORT` (or `no master`) on every change, until killed.

    python zk_detect.py mesoshttp HOSTS PATH
        mesoshttp's one-shot detection (first child starting with `json`, read from /mesos/,
        `pid`). Prints `master URL` once and exits.
"""

import sys


class Driver:
    """What pymesos' detector calls back, with pymesos' own parsing of the node."""

    def change_master(self, master):
        print("master %s" % master if master else "no master", flush=True)

    def onNewMasterDetectedMessage(self, data):
        from pymesos.scheduler import MesosSchedulerDriver

        MesosSchedulerDriver.onNewMasterDetectedMessage(self, data)

    def onNoMasterDetectedMessage(self):
        self.change_master(None)


def pymesos(uri):
    import time

    from pymesos.detector import MasterDetector

    detector = MasterDetector(uri, Driver())
    detector.start()
    while True:
        time.sleep(1)


def mesoshttp(hosts, path):
    import logging

    from mesoshttp.client import MesosClient

    class Stub:
        logger = logging.getLogger("zk_detect")

    url = MesosClient._MesosClient__zk_detect(Stub(), hosts, path)
    print("master %s" % url, flush=True)


def main():
    if sys.argv[1] == "pymesos":
        pymesos(sys.argv[2])
    elif sys.argv[1] == "mesoshttp":
        mesoshttp(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown client %r" % sys.argv[1])


if __name__ == "__main__":
    main()
