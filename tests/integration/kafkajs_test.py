"""kafkajs (the npm package) against a real `weir server`: its admin creates a topic,
its producer writes, and two consumers of one group split the partitions, read every
record once and commit (kafkajs/group.js does the client side).

kafkajs is installed with `npm ci` from the committed package-lock.json into
<build dir>/kafkajs on first use (the npm registry is reachable from CI); the test
skips when node or npm is missing.
"""

import json
import os
import shutil
import subprocess

import harness

TOPIC = "kjs"
PARTITIONS = 3
HERE = os.path.dirname(os.path.abspath(__file__))


def install_kafkajs(weir):
    """Returns the directory holding node_modules/kafkajs, installing it if needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        harness.skip("node and npm are needed for kafkajs")
    # The build directory: weir is <build>/src/cli/weir.
    target = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(weir))), "kafkajs")
    os.makedirs(target, exist_ok=True)
    for name in ("package.json", "package-lock.json", "group.js"):
        shutil.copyfile(os.path.join(HERE, "kafkajs", name), os.path.join(target, name))
    if not os.path.isdir(os.path.join(target, "node_modules", "kafkajs")):
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=target,
                           capture_output=True, timeout=240)
        if r.returncode != 0:
            raise RuntimeError(f"npm ci failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return node, target


def main():
    weir = harness.weir_binary()
    node, where = install_kafkajs(weir)
    t = harness.Checks()
    with harness.WeirServer(weir, overrides=["group.initial.rebalance.delay.ms=200"]) as server:
        r = subprocess.run([node, "group.js", server.bootstrap, TOPIC, str(PARTITIONS)],
                           cwd=where, capture_output=True, timeout=150)
        out = r.stdout.decode(errors="replace").strip().splitlines()
        t.equal(r.returncode, 0, f"kafkajs ran to the end (stderr: {r.stderr.decode(errors='replace')[-1500:]})")
        if r.returncode != 0 or not out:
            t.finish()
        saw = json.loads(out[-1])
        expected = sorted(f"{i % PARTITIONS}:r{i}" for i in range(90))
        t.equal(sorted(saw["seen"]), expected, "the kafkajs group read each of the 90 records once")
        a, b = set(saw["assignments"].get("a", [])), set(saw["assignments"].get("b", []))
        t.check(a and b and not (a & b) and len(a | b) == PARTITIONS,
                f"two kafkajs members split the {PARTITIONS} partitions: {saw['assignments']}")
        committed = {int(p["partition"]): int(p["offset"]) for p in saw["offsets"][0]["partitions"]}
        t.equal(committed, {0: 30, 1: 30, 2: 30}, "kafkajs's commits are the log ends")
        t.check({"groupId": "kjs", "protocolType": "consumer"} in saw["groups"],
                f"kafkajs's listGroups names the group: {saw['groups']}")
    t.finish()


if __name__ == "__main__":
    main()
