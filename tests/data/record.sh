#!/bin/sh
# Re-records the golden request bytes in tests/data/golden/ from the real clients
# Debian packages: kcat 1.7.1 (librdkafka 2.0.2) and python3-kafka 2.0.2. Run from
# anywhere; needs a free port 19092. See README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/golden"
port=19092
rm -rf "$out"
mkdir -p "$out"
input=$(mktemp)
trap 'rm -f "$input"' EXIT
# Ten records: key kN, value golden-N followed by 100 dots, so that every codec
# actually shrinks the batch (librdkafka sends a batch uncompressed when
# compression would not make it smaller). kcat -K: splits key and value at the colon.
dots=....................................................................................................
for i in 0 1 2 3 4 5 6 7 8 9; do echo "k$i:golden-$i$dots"; done > "$input"

for codec in none gzip snappy lz4 zstd; do
  /usr/bin/python3 "$here/capture.py" "$out" "kcat-$codec" $port 30 -- \
    kcat -b 127.0.0.1:$port -P -t golden -p 0 -K: -H h=v -z $codec \
      -X linger.ms=100 -l "$input"
done
# Idempotent producer: InitProducerId, then batches with a producer id and sequences.
/usr/bin/python3 "$here/capture.py" "$out" "kcat-idempotent" $port 30 -- \
  kcat -b 127.0.0.1:$port -P -t golden -p 0 -K: -H h=v -z lz4 \
    -X linger.ms=100 -X enable.idempotence=true -l "$input"
# kafka-python: Debian ships it without python-snappy, lz4 or zstandard, so gzip only.
for codec in none gzip; do
  /usr/bin/python3 "$here/capture.py" "$out" "kafka-python-$codec" $port 30 -- \
    /usr/bin/python3 "$here/kafka_python_producer.py" $port $codec
done
ls -l "$out"
