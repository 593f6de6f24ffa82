#!/usr/bin/env python3
"""One-off importer: reads Apache Kafka's message specs (JSON with comments) from a
Kafka checkout and writes weir's message definitions (src/protocol/messages/*.def).

Kafka's specs are the authority for the facts (field order, types, versions, tags,
defaults); the .def files are weir's own, compact format and are what the build
reads. The importer clamps every message to the version range Kafka 4.x accepts
(KIP-896 removed the oldest versions), drops fields that only existed below it, and
leaves out Kafka's prose. Run it again only to pick up a new Kafka release, then
review the diff by hand:

    python3 tools/protogen/import_kafka.py <kafka-checkout> src/protocol/messages

The checkout may be a bare git dir: pass `git:<dir>@<rev>` to read through git.
"""
import json
import os
import re
import subprocess
import sys

# name -> (min, max) of the version range a Kafka 4.1 node serves (4.0's, or wider
# where 4.1 added versions; docs/protocol.md, "Version ranges", says which release
# each was checked against). The first import read an October 2024 snapshot, which
# stops below several of these maxima; the fields of the newer versions were added
# to the .def files by hand. Import from a 4.1 checkout, or those fields are lost.
RANGES = {
    "Produce": (3, 12), "Fetch": (4, 18), "ListOffsets": (1, 10), "Metadata": (0, 13),
    "OffsetCommit": (2, 9), "OffsetFetch": (1, 9), "FindCoordinator": (0, 6),
    "JoinGroup": (0, 9), "Heartbeat": (0, 4), "LeaveGroup": (0, 5), "SyncGroup": (0, 5),
    "DescribeGroups": (0, 6), "ListGroups": (0, 5), "SaslHandshake": (0, 1),
    "ApiVersions": (0, 4), "CreateTopics": (2, 7), "DeleteTopics": (1, 6),
    "DeleteRecords": (0, 2), "InitProducerId": (0, 5), "OffsetForLeaderEpoch": (2, 4),
    "AddPartitionsToTxn": (0, 5), "AddOffsetsToTxn": (0, 4), "EndTxn": (0, 5),
    "WriteTxnMarkers": (1, 1), "TxnOffsetCommit": (0, 5), "DescribeAcls": (1, 3),
    "CreateAcls": (1, 3), "DeleteAcls": (1, 3), "DescribeConfigs": (1, 4),
    "AlterConfigs": (0, 2), "DescribeLogDirs": (1, 4), "SaslAuthenticate": (0, 2),
    "CreatePartitions": (0, 3), "DeleteGroups": (0, 2), "ElectLeaders": (0, 2),
    "IncrementalAlterConfigs": (0, 1), "AlterPartitionReassignments": (0, 1),
    "ListPartitionReassignments": (0, 0), "OffsetDelete": (0, 0),
    "DescribeCluster": (0, 2), "DescribeProducers": (0, 0),
    "DescribeTransactions": (0, 0), "ListTransactions": (0, 2),
    "ConsumerGroupHeartbeat": (0, 1), "ConsumerGroupDescribe": (0, 1),
    "Vote": (0, 2), "BeginQuorumEpoch": (0, 1), "EndQuorumEpoch": (0, 1),
    "DescribeQuorum": (0, 2), "AlterPartition": (2, 3), "FetchSnapshot": (0, 1),
    "BrokerRegistration": (0, 4), "BrokerHeartbeat": (0, 1), "UnregisterBroker": (0, 0),
    "AllocateProducerIds": (0, 0),
}

# Apis whose ApiVersions entry lists an older minimum than is served (KAFKA-18659).
ADVERTISED_MIN = {"Produce": 0}
ADVERTISED_NOTE = [
    "# advertised=0: ApiVersions lists Produce from version 0 although 0-2 are refused,",
    "# as Kafka 4.x does (KAFKA-18659): librdkafka enables gzip, snappy and lz4 only for",
    "# a broker that lists Produce v2.",
]

OPEN = 10**6


def parse_versions(text):
    text = text.strip()
    if text == "none":
        return None
    if text.endswith("+"):
        return (int(text[:-1]), OPEN)
    if "-" in text:
        low, high = text.split("-")
        return (int(low), int(high))
    return (int(text), int(text))


def clamp(versions, low, high):
    if versions is None:
        return None
    a, b = max(versions[0], low), min(versions[1], high)
    if a > b:
        return None
    return (a, OPEN if versions[1] >= high else b)


def show(versions, low):
    """Versions as the .def format writes them; '' when the field is always there."""
    a, b = versions
    if b == OPEN:
        return "" if a <= low else f"v{a}+"
    return f"v{a}" if a == b else f"v{a}-{b}"


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


def read_spec(source, name):
    if source.startswith("git:"):
        gitdir, rev = source[4:].split("@")
        path = f"clients/src/main/resources/common/message/{name}.json"
        text = subprocess.run(["git", "--git-dir", gitdir, "show", f"{rev}:{path}"],
                              check=True, capture_output=True, text=True).stdout
    else:
        with open(os.path.join(source, "clients/src/main/resources/common/message",
                               name + ".json")) as f:
            text = f.read()
    text = re.sub(r"//[^\n]*", "", text)
    return json.loads(text)


def emit_fields(out, fields, low, high, indent):
    for field in fields:
        versions = clamp(parse_versions(field["versions"]), low, high)
        if versions is None:
            continue
        ftype = field["type"]
        tokens = [snake(field["name"]), ftype]
        v = show(versions, low)
        if v:
            tokens.append(v)
        if "nullableVersions" in field:
            nullable = clamp(parse_versions(field["nullableVersions"]), low, high)
            if nullable is not None:
                nv = show(nullable, versions[0])
                tokens.append("nullable" + ("=" + nv if nv else ""))
        if "tag" in field:
            tagged = clamp(parse_versions(field["taggedVersions"]), low, high)
            assert tagged == versions, (field["name"], tagged, versions)
            tokens.append(f"tag={field['tag']}")
        if "default" in field:
            default = str(field["default"]).strip()
            tokens.append("default=" + (default if default else '""'))
        out.append("  " * indent + " ".join(tokens))
        if "fields" in field:
            emit_fields(out, field["fields"], low, high, indent + 1)


def emit_message(out, spec, kind, low, high):
    out.append(kind)
    emit_fields(out, spec["fields"], low, high, 1)
    for struct in spec.get("commonStructs", []):
        out.append(f"  struct {struct['name']}")
        emit_fields(out, struct["fields"], low, high, 2)


def main():
    source, out_dir = sys.argv[1], sys.argv[2]
    for name, (low, high) in RANGES.items():
        request = read_spec(source, name + "Request")
        response = read_spec(source, name + "Response")
        valid = parse_versions(request["validVersions"])
        flexible = parse_versions(request.get("flexibleVersions", "none"))
        # Versions past the snapshot's newest repeat its schema (version-only bumps).
        flex = "none" if flexible is None else f"{max(flexible[0], low)}+"
        advertised = f" advertised={ADVERTISED_MIN[name]}" if name in ADVERTISED_MIN else ""
        out = [f"# {name}: Kafka api key {request['apiKey']}."]
        if valid[1] < high:
            out.append(f"# Versions {valid[1] + 1}-{high} repeat version {valid[1]}'s schema.")
        if advertised:
            out += ADVERTISED_NOTE
        out += [f"api {name} key={request['apiKey']} versions={low}-{high} flexible={flex}{advertised}",
                ""]
        emit_message(out, request, "request", low, high)
        out.append("")
        emit_message(out, response, "response", low, high)
        with open(os.path.join(out_dir, snake(name) + ".def"), "w") as f:
            f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
