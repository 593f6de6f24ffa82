/* idempotent_1m: an idempotent librdkafka producer sends COUNT records (the payload of
 * record i is i, as 8 big-endian bytes) to partition 0 of TOPIC, then a consumer reads
 * the partition from the beginning. Passes when every record was acknowledged at the
 * offset equal to its sequence number, and the partition reads back complete, in order,
 * with no duplicates. Prints both directions' records/s.
 *
 * usage: idempotent_1m BOOTSTRAP TOPIC [COUNT]   (COUNT defaults to 1000000)
 * A test program, not broker code: it uses the OS clock directly to print throughput.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

struct delivery_state {
  int64_t delivered;
  int64_t errors;
  int64_t misplaced; /* acknowledged at an offset other than its sequence number */
  char first_error[512];
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_u64(unsigned char* out, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
}

static uint64_t get_u64(const unsigned char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | in[i];
  return v;
}

static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  (void)rk;
  struct delivery_state* s = opaque;
  if (m->err) {
    if (s->errors++ == 0) {
      snprintf(s->first_error, sizeof s->first_error, "%s", rd_kafka_err2str(m->err));
    }
    return;
  }
  s->delivered++;
  if (m->len != 8 || (int64_t)get_u64(m->payload) != m->offset) s->misplaced++;
}

static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  (void)opaque;
  fprintf(stderr, "librdkafka error: %s: %s\n", rd_kafka_err2name(err), reason);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512];
    rd_kafka_fatal_error(rk, why, sizeof why);
    fprintf(stderr, "fatal: %s\n", why);
    exit(1);
  }
}

static int set(rd_kafka_conf_t* conf, const char* key, const char* value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "config %s=%s: %s\n", key, value, err);
    return 0;
  }
  return 1;
}

static int produce(const char* bootstrap, const char* topic, int64_t count) {
  struct delivery_state state;
  memset(&state, 0, sizeof state);
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  if (!set(conf, "bootstrap.servers", bootstrap) || !set(conf, "enable.idempotence", "true") ||
      !set(conf, "linger.ms", "5") || !set(conf, "batch.num.messages", "10000") ||
      !set(conf, "queue.buffering.max.messages", "500000")) {
    return 0;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_opaque(conf, &state);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "producer: %s\n", err);
    return 0;
  }
  double start = now_seconds();
  unsigned char payload[8];
  for (int64_t i = 0; i < count; i++) {
    put_u64(payload, (uint64_t)i);
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(payload, sizeof payload),
          RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        fprintf(stderr, "produce %" PRId64 ": %s\n", i, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return 0;
      }
      rd_kafka_poll(rk, 50);
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 120 * 1000);
  double seconds = now_seconds() - start;
  rd_kafka_destroy(rk);
  printf("produced %" PRId64 " records (idempotent, acks=all) in %.2f s: %.0f records/s\n",
         state.delivered, seconds, (double)state.delivered / seconds);
  int ok = 1;
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fprintf(stderr, "FAIL: flush: %s\n", rd_kafka_err2str(flushed));
    ok = 0;
  }
  if (state.errors) {
    fprintf(stderr, "FAIL: %" PRId64 " delivery errors, the first: %s\n", state.errors,
            state.first_error);
    ok = 0;
  }
  if (state.delivered != count) {
    fprintf(stderr, "FAIL: %" PRId64 " of %" PRId64 " delivered\n", state.delivered, count);
    ok = 0;
  }
  if (state.misplaced) {
    fprintf(stderr, "FAIL: %" PRId64 " records acknowledged at an offset other than their "
            "sequence number\n", state.misplaced);
    ok = 0;
  }
  return ok;
}

static int consume(const char* bootstrap, const char* topic, int64_t count) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  if (!set(conf, "bootstrap.servers", bootstrap) || !set(conf, "enable.partition.eof", "true") ||
      !set(conf, "fetch.max.bytes", "52428800")) {
    return 0;
  }
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "consumer: %s\n", err);
    return 0;
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING) == -1) {
    fprintf(stderr, "consume_start: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
    return 0;
  }
  double start = now_seconds();
  double last_progress = start;
  int64_t next = 0, out_of_order = 0, bad = 0;
  int at_end = 0;
  rd_kafka_message_t* batch[10000];
  while (!at_end && now_seconds() - last_progress < 30.0) {
    ssize_t n = rd_kafka_consume_batch(rkt, 0, 1000, batch, 10000);
    for (ssize_t k = 0; k < n; k++) {
      rd_kafka_message_t* m = batch[k];
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (next >= count) at_end = 1;
      } else if (m->err) {
        fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
        bad++;
      } else {
        last_progress = now_seconds();
        if (m->len != 8) {
          bad++;
        } else {
          int64_t seq = (int64_t)get_u64(m->payload);
          if (seq != next || m->offset != next) {
            if (out_of_order++ < 5) {
              fprintf(stderr, "expected %" PRId64 ", read sequence %" PRId64 " at offset %" PRId64
                      "\n", next, seq, m->offset);
            }
          }
          next = seq + 1;
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  double seconds = now_seconds() - start;
  rd_kafka_consume_stop(rkt, 0);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  printf("consumed %" PRId64 " records in %.2f s: %.0f records/s\n", next, seconds,
         (double)next / seconds);
  int ok = 1;
  if (!at_end || next != count) {
    fprintf(stderr, "FAIL: read up to sequence %" PRId64 " of %" PRId64 " (end reached: %d)\n",
            next, count, at_end);
    ok = 0;
  }
  if (out_of_order || bad) {
    fprintf(stderr, "FAIL: %" PRId64 " out of order or duplicated, %" PRId64 " bad records\n",
            out_of_order, bad);
    ok = 0;
  }
  return ok;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s BOOTSTRAP TOPIC [COUNT]\n", argv[0]);
    return 2;
  }
  int64_t count = argc > 3 ? strtoll(argv[3], NULL, 10) : 1000000;
  printf("librdkafka %s\n", rd_kafka_version_str());
  fflush(stdout);
  int ok = produce(argv[1], argv[2], count);
  fflush(stdout);
  ok = consume(argv[1], argv[2], count) && ok;
  printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
