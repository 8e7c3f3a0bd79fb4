import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import {
  collectionConfigSchema,
  configNameSchema,
  retrievalFields,
  type AnswerOverrides,
  type CollectionConfig,
} from '../answer/collection-config.ts';
import { RaglineError, badRequest, notFound, validationError } from '../core/errors.ts';
import { ConfigStore, type ConfigVersion, type Experiment, type ExperimentVariant } from '../store/configs.ts';
import { SqlStore } from '../store/sql-store.ts';
import { TenancyStore } from '../store/tenancy.ts';
import type { Collection, Store } from '../store/types.ts';
import type { Actor } from './tenancy.ts';

/** Collections whose config state is kept in memory (each a few small objects). */
const MAX_CACHED_STATES = 10_000;

interface ConfigState {
  experiment: Experiment | null;
  activeName: string | null;
  /** The newest version of every config name. */
  latest: Map<string, ConfigVersion>;
}

/** Which configuration served a request: recorded in its trace. */
export interface AppliedConfig {
  configName: string | null;
  configVersion: number | null;
  experiment: string | null;
  variant: string | null;
}

export const NO_CONFIG: AppliedConfig = { configName: null, configVersion: null, experiment: null, variant: null };

/** A request with a collection config folded in: explicit request fields over the config's, over the defaults. */
export interface ConfiguredRequest<T> {
  input: T;
  overrides: AnswerOverrides;
  applied: AppliedConfig;
}

export const experimentVariantsSchema = z
  .array(z.object({ config: configNameSchema, percent: z.number().int().min(1).max(99) }).strict())
  .min(2, 'an experiment needs at least two variants')
  .max(10, 'an experiment has at most 10 variants')
  .superRefine((variants, ctx) => {
    const total = variants.reduce((sum, v) => sum + v.percent, 0);
    if (total !== 100) ctx.addIssue({ code: 'custom', message: `variant percents must add up to 100, not ${total}` });
    const names = variants.map((v) => v.config);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', message: 'each variant must name a different config' });
  });

/**
 * The variant of `experiment` a subject (an end user, else an API key) is in: a SHA-256 of the
 * collection, the experiment name and the subject, read as a number in [0, 100) and matched against
 * the cumulative percents. It depends on nothing but those strings, so every process and replica
 * (and every restart) puts a subject in the same variant, and a new experiment reshuffles subjects.
 */
export function assignVariant(collectionId: string, experiment: string, subject: string, variants: ExperimentVariant[]): string {
  const digest = createHash('sha256').update(`${collectionId}\n${experiment}\n${subject}`).digest();
  const bucket = (digest.readUInt32BE(0) / 2 ** 32) * 100;
  let upTo = 0;
  for (const v of variants) {
    upTo += v.percent;
    if (bucket < upTo) return v.config;
  }
  return variants[variants.length - 1]!.config;
}

/** What an experiment assigns by: the request's `user`, else the API key, else the anonymous caller. */
export function experimentSubject(user: unknown, keyId: string | null): string {
  if (typeof user === 'string' && user) return `user:${user}`;
  return keyId ? `key:${keyId}` : 'anonymous';
}

/** The fields a caller actually sent (undefined ones were not sent). */
function explicitFields(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return {};
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}

function checkName(name: string, what: string): void {
  const parsed = configNameSchema.safeParse(name);
  if (!parsed.success) throw validationError(what, parsed.error);
}

function parseSettings(input: unknown): CollectionConfig {
  const parsed = collectionConfigSchema.safeParse(input);
  if (!parsed.success) throw validationError('config settings', parsed.error);
  return parsed.data;
}

/**
 * Named, versioned configurations of collections and the experiments between them (docs/experiments.md).
 * Every change is audited in the tenant's audit log; reads and the per-request resolution never write.
 */
export class CollectionConfigs {
  /**
   * What each collection's configs say, by `${id}@${version}`: every config or experiment change
   * moves the collection's version (store/configs.ts), so an entry never goes stale, and a request
   * resolves its config without SQL whenever its collection came from the in-memory directory.
   */
  private readonly states = new LRUCache<string, ConfigState>({ max: MAX_CACHED_STATES });

  constructor(
    readonly store: ConfigStore,
    private readonly audit: TenancyStore,
  ) {}

  /** Undefined for stores without SQL (configs live in the SQL database). */
  static for(store: Store): CollectionConfigs | undefined {
    if (!(store instanceof SqlStore)) return undefined;
    return new CollectionConfigs(new ConfigStore(store.db, store.localChanges), TenancyStore.forStore(store));
  }

  private async state(collection: Collection): Promise<ConfigState> {
    const key = `${collection.id}@${collection.version}`;
    const cached = this.states.get(key);
    if (cached) return cached;
    const [experiment, activeName, latest] = await Promise.all([
      this.store.runningExperiment(collection.id),
      this.store.activeName(collection.id),
      this.store.latestVersions(collection.id),
    ]);
    const state = { experiment, activeName, latest: new Map(latest.map((v) => [v.name, v])) };
    this.states.set(key, state);
    return state;
  }

  private async record(actor: Actor, collection: Collection, action: string, details: Record<string, unknown>) {
    await this.audit.audit({
      tenantId: collection.tenantId,
      actor: actor.keyId,
      client: actor.client,
      action,
      target: collection.id,
      details: { collection: collection.name, ...details },
    });
  }

  /** Stores `settings` as the next version of `name`; activates it when asked or when the collection has no active config. */
  async set(
    actor: Actor,
    collection: Collection,
    name: string,
    settings: unknown,
    options: { note?: string; activate?: boolean } = {},
  ): Promise<{ config: ConfigVersion; active: boolean }> {
    checkName(name, 'config name');
    const parsed = parseSettings(settings);
    const config = await this.store.addVersion({
      collectionId: collection.id,
      name,
      settings: parsed,
      note: options.note ?? null,
      createdBy: actor.keyId,
    });
    const activeName = await this.store.activeName(collection.id);
    const activate = options.activate ?? activeName === null;
    if (activate && activeName !== name) await this.store.setActive(collection.id, name);
    await this.record(actor, collection, 'config.set', { name, version: config.version, activated: activate, settings: parsed });
    return { config, active: activate || activeName === name };
  }

  /** The newest (or the given) version of `name`; without a name, of the active config. */
  async show(collection: Collection, name?: string, version?: number): Promise<ConfigVersion> {
    const target = name ?? (await this.store.activeName(collection.id));
    if (!target) throw notFound(`collection "${collection.name}" has no active config`, { collection: collection.name });
    const config = await this.store.getVersion(collection.id, target, version);
    if (!config) {
      throw notFound(`config "${target}"${version ? ` version ${version}` : ''} not found`, { config: target, version: version ?? null });
    }
    return config;
  }

  async history(collection: Collection, name: string, limit?: number): Promise<ConfigVersion[]> {
    const versions = await this.store.history(collection.id, name, limit);
    if (!versions.length) throw notFound(`config "${name}" not found`, { config: name });
    return versions;
  }

  /** The collection's configs (newest version of each), which one is active, and the running experiment. */
  async list(collection: Collection) {
    const [configs, active, experiment] = await Promise.all([
      this.store.latestVersions(collection.id),
      this.store.activeName(collection.id),
      this.store.runningExperiment(collection.id),
    ]);
    return { active, configs, experiment };
  }

  /**
   * Restores an earlier version of `name` by appending it as a new version (history only grows),
   * by default the one before the newest. The config keeps its place (active or not).
   */
  async rollback(actor: Actor, collection: Collection, name: string, toVersion?: number): Promise<ConfigVersion> {
    const current = await this.show(collection, name);
    const targetVersion = toVersion ?? current.version - 1;
    if (targetVersion < 1) {
      throw new RaglineError('conflict', `config "${name}" has only version ${current.version}: nothing to roll back to`, {
        config: name,
        version: current.version,
      });
    }
    const target = await this.show(collection, name, targetVersion);
    const restored = await this.store.addVersion({
      collectionId: collection.id,
      name,
      settings: target.settings,
      note: `rollback of v${current.version} to v${target.version}`,
      createdBy: actor.keyId,
    });
    await this.record(actor, collection, 'config.rollback', { name, from: current.version, to: target.version, version: restored.version });
    return restored;
  }

  /** Makes `name` the collection's active config. */
  async activate(actor: Actor, collection: Collection, name: string): Promise<ConfigVersion> {
    const config = await this.show(collection, name);
    const previous = await this.store.activeName(collection.id);
    await this.store.setActive(collection.id, name);
    await this.record(actor, collection, 'config.activate', { name, previous });
    return config;
  }

  async startExperiment(actor: Actor, collection: Collection, name: string, variantsInput: unknown): Promise<Experiment> {
    checkName(name, 'experiment name');
    const parsed = experimentVariantsSchema.safeParse(variantsInput);
    if (!parsed.success) throw validationError('experiment variants', parsed.error);
    for (const v of parsed.data) {
      if (!(await this.store.getVersion(collection.id, v.config))) {
        throw badRequest(`variant config "${v.config}" does not exist in collection "${collection.name}"`, { config: v.config });
      }
    }
    const experiment = await this.store.startExperiment({
      collectionId: collection.id,
      name,
      variants: parsed.data,
      startedBy: actor.keyId,
    });
    if (!experiment) {
      const running = await this.store.runningExperiment(collection.id);
      throw new RaglineError(
        'conflict',
        running
          ? `experiment "${running.name}" is already running on "${collection.name}": stop it first`
          : `an experiment named "${name}" already exists in "${collection.name}"`,
        { experiment: running?.name ?? name },
      );
    }
    await this.record(actor, collection, 'experiment.start', { name, variants: parsed.data });
    return experiment;
  }

  async experiment(collection: Collection, name: string): Promise<Experiment> {
    const experiment = await this.store.getExperiment(collection.id, name);
    if (!experiment) throw notFound(`experiment "${name}" not found`, { experiment: name });
    return experiment;
  }

  /** Stops the experiment and sends all traffic to `winner` (one of its variants), which becomes the active config. */
  async stopExperiment(actor: Actor, collection: Collection, name: string, winner: string): Promise<Experiment> {
    const experiment = await this.experiment(collection, name);
    if (experiment.state !== 'running') {
      throw new RaglineError('conflict', `experiment "${name}" is already stopped`, { experiment: name });
    }
    if (!experiment.variants.some((v) => v.config === winner)) {
      throw badRequest(`winner "${winner}" is not a variant of "${name}" (${experiment.variants.map((v) => v.config).join(', ')})`, {
        winner,
      });
    }
    const stopped = await this.store.stopExperiment(collection.id, name, winner);
    if (!stopped) throw new RaglineError('conflict', `experiment "${name}" is already stopped`, { experiment: name });
    await this.record(actor, collection, 'experiment.stop', { name, winner });
    return stopped;
  }

  /**
   * The config a request runs with: the one it names, else its variant of the running experiment,
   * else the collection's active config, else none. Returns the request with the config's fields
   * under the caller's explicit ones, and the generation and answer-policy settings.
   */
  async forRequest<T>(collection: Collection, input: T, keyId: string | null, kind: 'search' | 'answer'): Promise<ConfiguredRequest<T>> {
    const sent = explicitFields(input);
    const chosen = await this.choose(collection, sent.config, experimentSubject(sent.user, keyId));
    if (!chosen) return { input, overrides: {}, applied: NO_CONFIG };
    const config = collectionConfigSchema.parse(chosen.version.settings);
    const fromConfig = retrievalFields(config);
    // A config's topK is a deliberate choice: answers take it even outside the 5–10 guard.
    if (kind === 'answer' && fromConfig.topK !== undefined && sent.topK === undefined) fromConfig.allowAnyTopK = true;
    return {
      input: { ...fromConfig, ...sent } as T,
      overrides: { generation: config.generation, policy: config.policy },
      applied: {
        configName: chosen.version.name,
        configVersion: chosen.version.version,
        experiment: chosen.experiment,
        variant: chosen.experiment ? chosen.version.name : null,
      },
    };
  }

  private async choose(
    collection: Collection,
    named: unknown,
    subject: string,
  ): Promise<{ version: ConfigVersion; experiment: string | null } | null> {
    const { experiment, activeName, latest } = await this.state(collection);
    if (typeof named === 'string') {
      const version = latest.get(named);
      if (!version) throw badRequest(`config "${named}" does not exist in collection "${collection.name}"`, { config: named });
      return { version, experiment: null };
    }
    if (experiment) {
      const variant = assignVariant(collection.id, experiment.name, subject, experiment.variants);
      const version = latest.get(variant);
      if (version) return { version, experiment: experiment.name };
    }
    const version = activeName ? latest.get(activeName) : undefined;
    return version ? { version, experiment: null } : null;
  }
}
