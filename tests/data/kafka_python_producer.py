#!/usr/bin/python3
"""Produces the golden records with kafka-python (Debian's python3-kafka).

    kafka_python_producer.py <port> <compression: none|gzip>
"""
import sys

from kafka import KafkaProducer

port, compression = int(sys.argv[1]), sys.argv[2]
producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}",
                         compression_type=None if compression == "none" else compression,
                         linger_ms=50, acks="all")
for i in range(10):
    producer.send("golden", key=f"k{i}".encode(), value=f"golden-{i}{'.' * 100}".encode(),
                  headers=[("h", f"v{i}".encode())], partition=0)
producer.flush(timeout=10)
producer.close(timeout=5)
