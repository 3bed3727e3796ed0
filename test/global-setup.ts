/**
 * Vitest globalSetup: one real Kafka broker (scripts/kafka/kafka.ts) for the whole run.
 *
 * - KAFKA_BROKERS already set (e.g. after `npm run kafka:up`, or CI service): use it, start nothing.
 * - otherwise: start a KRaft broker on a free 127.0.0.1 port, stop it in teardown.
 *
 * Tests read the address with `kafkaBrokers()` from test/helpers/kafka.ts (inject('kafkaBrokers')).
 * process.env.KAFKA_BROKERS is set too, so worker processes and anything they spawn see it.
 */
import type { TestProject } from 'vitest/node';
import { startKafka, type KafkaBroker } from '../scripts/kafka/kafka.js';

let broker: KafkaBroker | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let brokers = process.env.KAFKA_BROKERS?.trim();
  if (!brokers) {
    const t0 = Date.now();
    broker = await startKafka();
    brokers = broker.brokers;
    process.env.KAFKA_BROKERS = brokers;
    console.log(`[global-setup] kafka ${brokers} ready in ${Date.now() - t0} ms (pid ${broker.pid})`);
  }
  project.provide('kafkaBrokers', brokers);

  return async () => {
    if (broker) {
      await broker.stop();
      broker = undefined;
      delete process.env.KAFKA_BROKERS;
    }
  };
}
