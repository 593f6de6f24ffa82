#!/usr/bin/python3
"""Consumes partition 0 of "golden" from the beginning with kafka-python (Debian's
python3-kafka, which checks batch CRCs) and prints each record as key:value:h=v.

    kafka_python_consumer.py <port> <record count>
"""
import sys

from kafka import KafkaConsumer, TopicPartition

port, count = int(sys.argv[1]), int(sys.argv[2])
consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", enable_auto_commit=False,
                         group_id=None, check_crcs=True, consumer_timeout_ms=10000)
partition = TopicPartition("golden", 0)
consumer.assign([partition])
consumer.seek_to_beginning(partition)
seen = 0
for message in consumer:
    headers = ",".join(f"{k}={v.decode()}" for k, v in message.headers)
    print(f"{message.key.decode()}:{message.value.decode()}:{headers}")
    seen += 1
    if seen == count:
        break
consumer.close()
sys.exit(0 if seen == count else 1)
