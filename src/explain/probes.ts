import { diffRunDir, type Finding } from '../diff/index.js';
import type { Catalogue } from '../scenario/factors/catalogue.js';
import type { Cell, Manifest } from '../scenario/manifest.js';
import { ManifestStore } from '../scenario/manifest-store.js';
import type { Progress } from '../scenario/progress.js';
import { runScenario, type RunScenarioOptions } from '../scenario/runner.js';
import { PROXY_URL_AXIS, type Scenario } from '../scenario/schema.js';
import type { Oracle, Outcome } from './design.js';
import { locate, outcomeOf, type Anchors, type Located } from './outcome.js';
import { InputError } from '../errors.js';

/**
 * Runs probes for the explain design: one run directory of its own (RUN_DIR/explain/<id>/) that
 * starts with the anchor cells (the baseline and one witness per variant, at the scenario's
 * repetitions, at least 2) and grows by probe cells of one run each, batch by batch, with the
 * runner's resume + extend. Whatever the variants' searches ask between two batches is run
 * together, so concurrent searches share the parallel jobs. Outcomes are judged from a diff of the
 * anchors beside the probe cells (outcome.ts), in chunks so a 600-zone corpus is never held at once.
 */

/** Probe cells judged per diff: bounds memory, not correctness (the anchors carry the noise). */
const JUDGE_CHUNK = 100;
/** Cell ids are c001…c999; a longer matrix would renumber them, which extending forbids. */
export const MAX_CELLS = 999;

/** A mistake in what was asked (exit 2). */
export class ExplainError extends InputError {}

/** The anchors cannot be run or no longer show the finding: nothing can be judged (exit 3). */
export class AnchorError extends Error {
  override name = 'AnchorError';
}

export interface EngineOptions {
  dir: string;
  /** The original run's scenario, agent pinned; the design and the explained axis's values are the engine's. */
  base: Scenario;
  axis: string;
  anchors: Cell['values'][];
  /** Indices into `anchors`: the baseline anchor, and each variant's witness with the variant's text. */
  roles: { baseline: number; variants: Array<{ index: number; text: string }> };
  baselineText: string;
  original: Finding;
  budget: number;
  jobs?: number;
  catalogue?: Catalogue;
  progress?: (round: number, runs: number) => Progress;
  signal?: AbortSignal;
  agentInstall?: RunScenarioOptions['agentInstall'];
  startProxy?: RunScenarioOptions['startProxy'];
  certsDir?: string;
  /** The run directory's policy for secret values, kept by the probes' directory. */
  keepSecrets?: boolean;
}

interface Pending {
  cell: Cell['values'];
  resolve: (o: Outcome) => void;
}

export class ProbeEngine {
  private readonly cells: Cell['values'][] = [];
  private readonly axisValues: string[];
  private readonly outcomes = new Map<string, Outcome>();
  private manifest: Manifest | null = null;
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private round = 0;
  private budgetHit = false;
  readonly reps: number;
  readonly failures: string[] = [];

  constructor(private readonly opts: EngineOptions) {
    this.reps = Math.max(2, opts.base.repetitions);
    this.axisValues = [...this.axisList(opts.base)];
  }

  private axisList(s: Scenario): string[] {
    if (this.opts.axis === PROXY_URL_AXIS) return s.proxy_urls ?? [];
    return s.factors[this.opts.axis] ?? s.axes[this.opts.axis] ?? [];
  }

  private key(cell: Cell['values']): string {
    return JSON.stringify(Object.entries(cell).sort(([a], [b]) => a.localeCompare(b)));
  }

  private isAnchor(cell: Cell['values']): boolean {
    const k = this.key(cell);
    return this.opts.anchors.some((a) => this.key(a) === k);
  }

  private scenario(): Scenario {
    const s = this.opts.base;
    const axis = this.opts.axis;
    const values = [...this.axisValues];
    const design = { cells: this.cells.map((c) => ({ ...c })) };
    const common = { ...s, repetitions: this.reps, design, max_runs: Number.MAX_SAFE_INTEGER };
    if (axis === PROXY_URL_AXIS) return { ...common, proxy_urls: values };
    if (axis in s.factors) return { ...common, factors: { ...s.factors, [axis]: values } };
    return { ...common, axes: { ...s.axes, [axis]: values } };
  }

  get runs(): number {
    return this.manifest?.runs.length ?? 0;
  }

  get exhausted(): boolean {
    return this.budgetHit || Boolean(this.opts.signal?.aborted);
  }

  private async run(): Promise<void> {
    this.round++;
    const fresh = this.manifest === null;
    const stored = new Set((this.manifest?.cells ?? []).map((m) => this.key(m.values)));
    const todo = this.cells.filter((c) => !stored.has(this.key(c))).length;
    const result = await runScenario({
      scenario: this.scenario(),
      outDir: this.opts.dir,
      resume: !fresh,
      extend: !fresh,
      yes: true,
      jobs: this.opts.jobs,
      catalogue: this.opts.catalogue,
      certsDir: this.opts.certsDir,
      keepSecrets: this.opts.keepSecrets,
      signal: this.opts.signal,
      agentInstall: this.opts.agentInstall,
      startProxy: this.opts.startProxy,
      repetitionsOf: (cell) => (this.isAnchor(cell.values) ? this.reps : 1),
      ...(this.opts.progress ? { progress: this.opts.progress(this.round, todo) } : {}),
    });
    this.manifest = result.manifest;
  }

  /**
   * Creates the directory with its anchors, or takes up one made before (its probes count as
   * asked already), and checks that the anchors show the finding again.
   */
  async open(): Promise<Located> {
    const existing = await ManifestStore.read(this.opts.dir).catch(() => null);
    if (existing) {
      const stored = existing.cells.map((c) => c.values);
      const same = this.opts.anchors.every((a, i) => stored[i] && this.key(stored[i]!) === this.key(a));
      if (!same) throw new ExplainError(`${this.opts.dir} holds probes of other anchor cells (the run directory was diffed again?): move it away to explain afresh`);
      this.cells.push(...stored);
      const scenario = existing.scenario as Scenario;
      for (const v of this.axisList({ ...this.opts.base, ...scenario } as Scenario)) if (!this.axisValues.includes(v)) this.axisValues.push(v);
      this.manifest = existing;
      if (existing.runs.some((r) => r.status !== 'ok')) await this.run();
    } else {
      this.cells.push(...this.opts.anchors);
      await this.run();
    }
    const located = await this.locateIn(new Set());
    if (!located) {
      const failed = this.manifest!.runs.filter((r) => r.status !== 'ok' && this.anchorIds().has(r.cell));
      throw new AnchorError(
        failed.length
          ? `the anchor runs failed (${failed.map((r) => `${r.id} ${r.status}`).join(', ')}): see ${this.opts.dir}/manifest.json`
          : `the finding did not show again in the anchor cells (${[...this.anchorIds()].join(', ')} of ${this.opts.dir}): the agent no longer behaves as it did, or the change was not stable`,
      );
    }
    // The anchors answer for their own values (a witness's zone is a probe value too).
    for (const c of this.manifest!.cells) if (this.isAnchor(c.values)) this.outcomes.set(this.key(c.values), outcomeOf(located, c.id, this.opts.baselineText));
    // Probes of an earlier explain of this finding: judged once, then answered from here.
    const earlier = this.manifest!.cells.filter((c) => !this.isAnchor(c.values));
    await this.judge(earlier.map((c) => c.id));
    return located;
  }

  private anchorIds(): Set<string> {
    const ids = new Set<string>();
    for (const c of this.manifest?.cells ?? []) if (this.isAnchor(c.values)) ids.add(c.id);
    return ids;
  }

  private anchorRoles(): Anchors {
    const idOf = (i: number) => this.manifest!.cells.find((c) => this.key(c.values) === this.key(this.opts.anchors[i]!))!.id;
    return {
      baseline: { cell: idOf(this.opts.roles.baseline), text: this.opts.baselineText },
      variants: this.opts.roles.variants.map((v) => ({ cell: idOf(v.index), text: v.text })),
    };
  }

  private async locateIn(cells: Set<string>): Promise<Located | null> {
    const findings = await diffRunDir(this.opts.dir, { cells: new Set([...this.anchorIds(), ...cells]) });
    return locate(findings, this.opts.original, this.anchorRoles());
  }

  /** Outcomes of probe cells (by id), from diffs of the anchors beside them. */
  private async judge(ids: string[]): Promise<void> {
    const byId = new Map(this.manifest!.cells.map((c) => [c.id, c.values]));
    const ok = new Set(this.manifest!.runs.filter((r) => r.status === 'ok').map((r) => r.cell));
    const runnable: string[] = [];
    for (const id of ids) {
      if (ok.has(id)) runnable.push(id);
      else {
        const run = this.manifest!.runs.find((r) => r.cell === id);
        const message = `run ${run?.id ?? id} ${run?.status ?? 'missing'}${run?.message ? `: ${run.message.split('\n')[0]}` : ''}`;
        this.failures.push(message);
        this.outcomes.set(this.key(byId.get(id)!), { status: 'failed', message });
      }
    }
    for (let i = 0; i < runnable.length; i += JUDGE_CHUNK) {
      const chunk = runnable.slice(i, i + JUDGE_CHUNK);
      const located = await this.locateIn(new Set(chunk));
      for (const id of chunk) {
        const outcome: Outcome = located
          ? outcomeOf(located, id, this.opts.baselineText)
          : { status: 'failed', message: 'the anchors did not show the finding in this batch: cannot tell' };
        this.outcomes.set(this.key(byId.get(id)!), outcome);
      }
    }
  }

  /** Probes `value` of the axis with the other axes as in `context`. */
  probe(context: Cell['values'], value: string): Promise<Outcome> {
    const cell = { ...context, [this.opts.axis]: value };
    const known = this.outcomes.get(this.key(cell));
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => {
      this.pending.push({ cell, resolve });
      this.schedule();
    });
  }

  oracle(context: Cell['values']): Oracle {
    return (requests) => Promise.all(requests.map((r) => this.probe(context, r.value)));
  }

  /**
   * Runs once every search waiting on a probe has asked: setImmediate fires after the promise
   * continuations of the last batch, so what the searches ask next goes into one batch.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.flushing = this.flushing.then(
      () =>
        new Promise<void>((done) =>
          setImmediate(() => {
            this.scheduled = false;
            this.flush().then(done, (err: unknown) => {
              const message = `runner error: ${(err as Error).message}`;
              for (const p of this.pending.splice(0)) p.resolve({ status: 'failed', message });
              this.failures.push(message);
              done();
            });
          }),
        ),
    );
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const fresh: Cell['values'][] = [];
    const seen = new Set<string>();
    for (const p of batch) {
      const k = this.key(p.cell);
      if (this.outcomes.has(k) || seen.has(k)) continue;
      seen.add(k);
      if (this.opts.signal?.aborted) {
        this.outcomes.set(k, { status: 'skipped', message: 'interrupted' });
      } else if (this.runs + fresh.length + 1 > this.opts.budget || this.cells.length + fresh.length + 1 > MAX_CELLS) {
        this.budgetHit = true;
        const why = this.cells.length + fresh.length + 1 > MAX_CELLS ? `an explain directory holds at most ${MAX_CELLS} cells` : `--budget ${this.opts.budget} runs spent`;
        this.outcomes.set(k, { status: 'skipped', message: why });
      } else fresh.push(p.cell);
    }
    if (fresh.length > 0) {
      for (const c of fresh) {
        this.cells.push(c);
        const v = c[this.opts.axis]!;
        if (!this.axisValues.includes(v)) this.axisValues.push(v);
      }
      await this.run();
      const ids = new Map(this.manifest!.cells.map((c) => [this.key(c.values), c.id]));
      await this.judge(fresh.map((c) => ids.get(this.key(c))!));
    }
    for (const p of batch) p.resolve(this.outcomes.get(this.key(p.cell)) ?? { status: 'skipped', message: 'not run' });
  }

  /** Waits for the last batch (nothing is left running when the explain returns). */
  async settle(): Promise<void> {
    await this.flushing;
  }
}
