// Kafka topic names of the event contract, one topic per event type.

import type { EventType } from '../contract/events.js';

const SUFFIX: Record<EventType, string> = {
  signin: 'signin',
  token: 'token',
  network: 'network',
  user_risk: 'user-risk',
  lifecycle: 'lifecycle',
};

export interface TopicNames {
  byType: Record<EventType, string>;
  /** Event type of each input topic. */
  typeOf: Map<string, EventType>;
  inputs: string[];
  deadLetter: string;
}

export function topicNames(prefix = 'riskstream'): TopicNames {
  const byType = Object.fromEntries(
    Object.entries(SUFFIX).map(([type, suffix]) => [type, `${prefix}.${suffix}`]),
  ) as Record<EventType, string>;
  const typeOf = new Map(Object.entries(byType).map(([type, topic]) => [topic, type as EventType]));
  return { byType, typeOf, inputs: Object.values(byType), deadLetter: `${prefix}.dlq` };
}
