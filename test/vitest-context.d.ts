// Values handed from test/global-setup.ts to test files via `inject()`.
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the test Kafka broker, e.g. "127.0.0.1:40123". */
    kafkaBrokers: string;
  }
}
