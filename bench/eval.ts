// Detection-quality evaluation: `npm run eval` (tsx bench/eval.ts).
//
// For each seed: generate a labelled dataset (fixtures/generator.ts), write it
// as NDJSON in arrival order, run the replay over it (detectors/replay.ts, or
// the CLI `riskstream replay` with --cli), and score the output lines against
// the labels (fixtures/score.ts). Prints per scenario the detection rate within
// 15 minutes of event time at the expected level and the median/p90 time to
// detect, the benign agents raised to medium or above (and which detectors
// fired on benign agents), PASS/FAIL per target; writes .cache/eval/results.json.
//
// Options:
//   --seeds 1,2,3       seeds (default 1,2,3; --large: 1)
//   --large             a bigger fleet over 48 h (6 tenants x 8 blueprints x 50 agents, 20 attacks per scenario)
//   --hours N           event-time duration (default 30; --large 48)
//   --tenants N, --blueprints N, --agents N, --attacks N
//                       fleet shape: tenants, blueprints per tenant, agents per
//                       blueprint, attacks per scenario (defaults: the generator's,
//                       or --large's); small fleets test thin peer groups
//   --scenarios a,b     only these scenario ids
//   --cli               run `riskstream replay` as a child process instead of importing replay()
//   --no-fail           exit 0 even when a target fails
//   --out DIR           working directory (default .cache/eval)
//   --misses N          misses listed per scenario (default 3)
//   --keep              keep the generated NDJSON and the replay output (deleted after scoring by default)

import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { toJsonRecord } from '../contract/validate.js';
import { streamDataset, type DatasetOptions, type ScenarioLabel } from '../fixtures/generator.js';
import { ReplayOutput, scoreRun, summarize, TARGETS, WINDOW_AFTER_MS, type EvalSummary, type RunScore } from '../fixtures/score.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Fixed start of every eval dataset: Monday 3 March 2025, 00:00 UTC. */
const START = Date.parse('2025-03-03T00:00:00Z');
const REPLAY_MODULE = '../detectors/replay.js';

type ReplayFn = (
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  errors: NodeJS.WritableStream,
) => Promise<Record<string, unknown>>;

interface ReplayRun {
  mode: 'import' | 'cli';
  ms: number;
  rejected: number;
  result: Record<string, unknown> | null;
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    large: { type: 'boolean', default: false },
    hours: { type: 'string' },
    tenants: { type: 'string' },
    blueprints: { type: 'string' },
    agents: { type: 'string' },
    attacks: { type: 'string' },
    scenarios: { type: 'string' },
    cli: { type: 'boolean', default: false },
    'no-fail': { type: 'boolean', default: false },
    out: { type: 'string' },
    misses: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});

const large = values.large === true;
const seeds = (values.seeds ?? (large ? '1' : '1,2,3')).split(',').map((s) => Number(s.trim()));
if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds: integers expected, got ${values.seeds}`);
const hours = Number(values.hours ?? (large ? 48 : 30));
const outDir = path.resolve(ROOT, values.out ?? '.cache/eval');
const missesShown = Number(values.misses ?? 3);
mkdirSync(outDir, { recursive: true });

function positiveInt(raw: string, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: a positive integer expected, got ${raw}`);
  return n;
}

function datasetOptions(seed: number): DatasetOptions {
  // Some seeds' fleets lack a free agent for an instance or two (orchestrators are scarce): left out and reported.
  const base: DatasetOptions = { seed, start: START, durationMs: hours * 3_600_000, allowUnplaced: true };
  if (large) Object.assign(base, { tenants: 6, blueprintsPerTenant: 8, agentsPerBlueprint: 50, attacksPerScenario: 20 });
  const shape: [keyof DatasetOptions, string, string | undefined][] = [
    ['tenants', '--tenants', values.tenants],
    ['blueprintsPerTenant', '--blueprints', values.blueprints],
    ['agentsPerBlueprint', '--agents', values.agents],
    ['attacksPerScenario', '--attacks', values.attacks],
  ];
  for (const [field, flag, raw] of shape) if (raw !== undefined) Object.assign(base, { [field]: positiveInt(raw, flag) });
  if (values.scenarios) base.scenarios = values.scenarios.split(',').map((s) => s.trim());
  return base;
}

async function writeDataset(seed: number, file: string): Promise<{ events: number; labels: ScenarioLabel[]; agents: ReturnType<ReturnType<typeof streamDataset>['agents']>; ms: number }> {
  const t0 = performance.now();
  const stream = streamDataset(datasetOptions(seed));
  const out = createWriteStream(file);
  let events = 0;
  for (const batch of stream.batches()) {
    let chunk = '';
    for (const ev of batch) {
      chunk += JSON.stringify(toJsonRecord(ev)) + '\n';
      events++;
      if (chunk.length > 1 << 20) {
        if (!out.write(chunk)) await once(out, 'drain');
        chunk = '';
      }
    }
    if (chunk && !out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const unplaced = stream.unplaced();
  if (unplaced.length) console.log(`seed ${seed}: ${unplaced.length} attack instance(s) left out, no suitable free agent in this fleet: ${unplaced.join(', ')}`);
  return { events, labels: stream.labels(), agents: stream.agents(), ms: performance.now() - t0 };
}

async function loadReplay(): Promise<ReplayFn | null> {
  try {
    const mod = (await import(REPLAY_MODULE)) as { replay?: ReplayFn };
    return typeof mod.replay === 'function' ? mod.replay : null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return null;
    throw err;
  }
}

async function runReplay(input: string, output: string, errorsFile: string): Promise<ReplayRun> {
  const t0 = performance.now();
  const fn = values.cli ? null : await loadReplay();
  if (fn) {
    const out = createWriteStream(output);
    const errs = createWriteStream(errorsFile);
    let rejected = 0;
    const counting = new (await import('node:stream')).Writable({
      write(chunk: Buffer, _enc, cb) {
        rejected += chunk.toString().split('\n').filter((l) => l.trim()).length;
        errs.write(chunk, cb);
      },
    });
    const result = await fn(createReadStream(input), out, counting);
    out.end();
    errs.end();
    await Promise.all([once(out, 'finish'), once(errs, 'finish')]);
    const bad = typeof result.bad === 'number' ? result.bad : rejected;
    return { mode: 'import', ms: performance.now() - t0, rejected: Math.max(bad, rejected), result };
  }
  // The CLI: the built command (bin/riskstream.js runs dist/) when built, else its source through tsx.
  const built = existsSync(path.join(ROOT, 'dist/cli/riskstream.js'));
  const source = pathToFileURL(path.join(ROOT, 'cli/riskstream.ts')).href;
  const [cmd, args] = built
    ? [process.execPath, [path.join(ROOT, 'bin/riskstream.js')]]
    : [
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `const { main } = await import(${JSON.stringify(source)}); process.exitCode = await main(process.argv.slice(1));`],
      ];
  const child = spawn(cmd, [...args, 'replay', '--input', input, '--output', output], { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'] });
  const errs = createWriteStream(errorsFile);
  let rejected = 0;
  let tail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    errs.write(text);
    tail = (tail + text).slice(-2000);
    rejected += text.split('\n').filter((l) => /^line \d+:/.test(l)).length;
  });
  const [code] = (await once(child, 'close')) as [number];
  errs.end();
  if (code !== 0) throw new Error(`riskstream replay exited with ${code}: ${tail}`);
  return { mode: 'cli', ms: performance.now() - t0, rejected, result: null };
}

async function readOutput(file: string): Promise<ReplayOutput> {
  const out = new ReplayOutput();
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) out.addLine(line);
  return out.finish();
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const secs = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`);
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const counts = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}:${v}`)
    .join(' ') || '-';

function print(summary: EvalSummary): void {
  console.log('\nAttack scenarios (detected = target reaches the expected level within 15 min of event time)');
  console.log(`  ${pad('scenario', 30)} ${pad('level', 7)} ${lpad('detected', 12)} ${lpad('median', 8)} ${lpad('p90', 8)}  detectors fired on targets`);
  for (const s of summary.scenarios) {
    const mark = s.rate >= TARGETS.detectionRate ? 'PASS' : 'FAIL';
    console.log(
      `  ${pad(s.scenario, 30)} ${pad(s.expected_level, 7)} ${lpad(`${s.detected}/${s.total}`, 7)} ${lpad(pct(s.rate), 6)} ${lpad(secs(s.median_ttd_ms), 8)} ${lpad(secs(s.p90_ttd_ms), 8)}  ${mark}  ${counts(s.detectors)}${s.masked ? `  (${s.masked} masked: already at level before)` : ''}`,
    );
    for (const m of s.misses.slice(0, missesShown)) {
      console.log(
        `      miss ${m.tenant_id.slice(0, 8)}/${m.agent_id.slice(0, 8)} @${new Date(m.start).toISOString()} reached ${m.level_in_window} (before: ${m.level_before}) fired [${m.detectors_fired.join(',')}]: ${m.description}`,
      );
    }
  }
  const o = summary.overall;
  console.log(`  ${pad('all', 30)} ${pad('', 7)} ${lpad(`${o.detected}/${o.total}`, 7)} ${lpad(pct(o.total ? o.detected / o.total : 0), 6)} ${lpad(secs(o.median_ttd_ms), 8)} ${lpad(secs(o.p90_ttd_ms), 8)}`);

  const b = summary.benign;
  console.log(`\nBenign agents (every agent that is not an attack target): ${b.agents}`);
  console.log(`  raised to medium or above: ${b.medium} (${(100 * b.medium_rate).toFixed(2)}%), to low or above: ${b.low} (${pct(b.agents ? b.low / b.agents : 0)})`);
  console.log(`  detectors in the reasons of benign medium+ changes: ${counts(b.mediumReasons)}`);
  console.log(`  detectors firing on benign agents (distinct agents, any severity): ${counts(b.detectors)}`);
  console.log(`  look-alikes:`);
  for (const [k, g] of Object.entries(b.byLookalike).sort()) {
    console.log(`    ${pad(k, 30)} agents ${lpad(String(g.agents), 5)}  medium+ ${lpad(String(g.medium), 4)}  low+ ${lpad(String(g.low), 4)}  ${counts(g.detectors)}`);
  }
  for (const e of b.examples.slice(0, 8)) {
    console.log(`    e.g. ${e.tenant_id.slice(0, 8)}/${e.agent_id.slice(0, 8)} ${e.level} @${new Date(e.time).toISOString()} by [${e.reasons.join(',')}]${e.lookalikes.length ? ` (${e.lookalikes.join(',')})` : ''}`);
  }
  console.log('\nTargets');
  for (const t of summary.targets) console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${pad(t.name, 52)} ${t.detail}`);
  console.log(`\n${summary.pass ? 'PASS' : 'FAIL'}: ${summary.targets.filter((t) => t.pass).length}/${summary.targets.length} targets met`);
}

async function main(): Promise<number> {
  const runs: RunScore[] = [];
  const perSeed: Record<string, unknown>[] = [];
  let rejected = 0;
  for (const seed of seeds) {
    const input = path.join(outDir, `seed-${seed}.events.ndjson`);
    const output = path.join(outDir, `seed-${seed}.output.ndjson`);
    const errorsFile = path.join(outDir, `seed-${seed}.errors.txt`);
    const ds = await writeDataset(seed, input);
    const rep = await runReplay(input, output, errorsFile);
    const out = await readOutput(output);
    const score = scoreRun(ds.labels, ds.agents, out);
    if (!values.keep) {
      rmSync(input, { force: true });
      rmSync(output, { force: true });
      if (existsSync(errorsFile) && statSync(errorsFile).size === 0) rmSync(errorsFile, { force: true });
    }
    runs.push(score);
    rejected += rep.rejected;
    const attacks = ds.labels.filter((l) => l.kind === 'attack');
    const seedSummary = summarize([score], rep.rejected);
    console.log(
      `seed ${seed}: ${ds.events} events, ${ds.agents.length} agents, ${attacks.length} attack labels; generated in ${(ds.ms / 1000).toFixed(1)} s, ` +
        `replay (${rep.mode}) ${(rep.ms / 1000).toFixed(1)} s (${Math.round(ds.events / (rep.ms / 1000))} ev/s); ` +
        `${out.detectionCount} detections, ${out.riskChanges} risk changes; detected ${seedSummary.overall.detected}/${seedSummary.overall.total}, ` +
        `benign medium+ ${seedSummary.benign.medium}/${seedSummary.benign.agents}` +
        (rep.rejected ? `, ${rep.rejected} REJECTED events (see ${errorsFile})` : '') +
        (out.unparsed ? `, ${out.unparsed} unrecognised output lines` : ''),
    );
    perSeed.push({
      seed,
      events: ds.events,
      agents: ds.agents.length,
      attack_labels: attacks.length,
      generate_ms: Math.round(ds.ms),
      replay_ms: Math.round(rep.ms),
      replay_mode: rep.mode,
      replay_result: rep.result,
      rejected: rep.rejected,
      detections: out.detectionCount,
      risk_changes: out.riskChanges,
      detected: seedSummary.overall.detected,
      total: seedSummary.overall.total,
      benign_agents: seedSummary.benign.agents,
      benign_medium: seedSummary.benign.medium,
    });
  }
  const summary = summarize(runs, rejected);
  print(summary);
  const resultsFile = path.join(outDir, 'results.json');
  writeFileSync(
    resultsFile,
    JSON.stringify(
      {
        generated_by: 'bench/eval.ts',
        config: { seeds, hours, large, start: new Date(START).toISOString(), window_after_ms: WINDOW_AFTER_MS, scenarios: values.scenarios ?? null, fleet: datasetOptions(seeds[0] ?? 1) },
        thresholds: TARGETS,
        seeds: perSeed,
        ...summary,
      },
      null,
      2,
    ),
  );
  console.log(`results: ${path.relative(ROOT, resultsFile)}`);
  return summary.pass || values['no-fail'] ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
