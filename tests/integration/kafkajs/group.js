// kafkajs's consumer group against weir (run by ../kafkajs_test.py):
//   node group.js <bootstrap> <topic> <partitions>
// Creates the topic, produces 90 records, then two consumers of one group read them:
// they must split the partitions, read every record once, and commit; a third look with
// the admin client reads the group's committed offsets. Prints one JSON line with what it
// saw; the Python side judges it.
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, partitionsArg] = process.argv.slice(2);
const partitions = Number(partitionsArg);
const kafka = new Kafka({ clientId: 'weir-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN });
const RECORDS = 90;

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic, acks: -1,
    messages: Array.from({ length: RECORDS }, (_, i) => ({ value: `r${i}`, partition: i % partitions })),
  });
  await producer.disconnect();

  const seen = [];
  const assignments = {};
  const members = ['a', 'b'].map((name) => {
    const consumer = kafka.consumer({ groupId: 'kjs', sessionTimeout: 10000, heartbeatInterval: 500 });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments[name] = e.payload.memberAssignment[topic] || [];
    });
    return { name, consumer };
  });
  for (const { consumer } of members) {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
  }
  let resolveAll;
  const all = new Promise((resolve) => { resolveAll = resolve; });
  for (const { consumer } of members) {
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push(`${partition}:${message.value.toString()}`);
        if (seen.length >= RECORDS) resolveAll();
      },
    });
  }
  // Both members in one generation: the split settles once the second has joined.
  const deadline = Date.now() + 60000;
  const split = () => ['a', 'b'].every((n) => (assignments[n] || []).length > 0)
    && assignments.a.length + assignments.b.length === partitions;
  while (Date.now() < deadline && (!split() || seen.length < RECORDS)) {
    await Promise.race([all, new Promise((r) => setTimeout(r, 200))]);
  }
  for (const { consumer } of members) await consumer.disconnect();  // commits what it read
  const offsets = await admin.fetchOffsets({ groupId: 'kjs', topics: [topic] });
  const groups = await admin.listGroups();
  await admin.disconnect();
  console.log(JSON.stringify({ seen, assignments, offsets, groups: groups.groups }));
}

main().catch((e) => { console.error('kafkajs error:', e); process.exit(2); });
