// Type declarations of the optirs Node client (index.js).

export declare const DEFAULT_URL: string;
export declare const RETRYABLE_CODES: Set<string>;

/** An error answered by optirsd, or `connection_error` (status 0). */
export declare class OptirsError extends Error {
  /** Stable snake_case code (proto/openapi.yaml, ErrorCode), or `connection_error`. */
  readonly code: string;
  /** HTTP status; 0 when the daemon could not be reached. */
  readonly status: number;
  /** step_conflict only: the step the session expects next. */
  readonly expected: number | null;
  /** The parsed error body, when there was one. */
  readonly body: unknown;
  /** The daemon's human-readable message. */
  readonly detail: string;
}

export interface ClientOptions {
  /** Default: $OPTIRS_URL, then http://127.0.0.1:8080. */
  url?: string;
  /** Sent as `Authorization: Bearer`; default $OPTIRS_API_KEY. */
  apiKey?: string | null;
  /** Per-request timeout in milliseconds (default 60000). */
  timeout?: number;
  /** Re-sends after connection errors (default 6). */
  retries?: number;
  /** First backoff in milliseconds, doubled per retry (default 50). */
  backoff?: number;
  /** Largest backoff in milliseconds (default 2000). */
  maxBackoff?: number;
}

export type Shape = number[];
export interface TensorSpec { name?: string; shape: Shape }

export interface CreateSessionOptions {
  tensors: Array<Shape | TensorSpec | number>;
  hyperparams?: Record<string, number>;
  params?: ArrayLike<number>;
  durability?: 'checkpoint' | 'step';
  workers?: number;
  totalSteps?: number;
  name?: string;
  tags?: Record<string, string>;
  weights?: string;
  schedule?: 'constant' | 'linear_warmup' | 'cosine' | 'step';
  /** Online adaptation, e.g. { lr: 'hypergradient', beta: 1e-4 } (see the README). */
  adapt?: Record<string, string | number | boolean>;
  nonFinite?: 'reject' | 'skip';
  divergenceFactor?: number;
  /** Learned optimizers: that domain's weights record (else OptirsError 'no_domain_weights'). */
  domain?: Domain;
}

export type Domain = 'vision' | 'text' | 'tabular' | 'synthetic';

export interface SessionDescription {
  id: string;
  created_ms: number;
  optimizer: string;
  hyperparams: Record<string, number>;
  schedule: string;
  weights?: string;
  domain?: Domain;
  num_params: number;
  durability: 'checkpoint' | 'step';
  workers: number;
  total_steps: number;
  name: string;
  tags: Record<string, string>;
  step: number;
  status: 'active' | 'diverged' | 'finished' | 'archived';
  reason?: string;
  last_loss: number | null;
  saved_step: number;
  pending_workers?: number;
  tensors?: Array<{ name: string; shape: Shape }>;
}

export interface Hyperparameter {
  name: string; default: number; min: number; max: number;
  min_exclusive: boolean; max_exclusive: boolean; integer: boolean; description: string;
}

export interface OptimizerInfo {
  name: string;
  kind: 'classic' | 'learned' | 'hybrid';
  description: string;
  hyperparams: Hyperparameter[];
  /** Learned optimizers and hybrids: the record a session gets without weights and domain. */
  default_weights?: DefaultWeights | null;
  /** Learned optimizers and hybrids: per domain, the record a session with that domain gets. */
  domain_weights?: Partial<Record<Domain, DefaultWeights>>;
  [extra: string]: unknown;
}

export interface DefaultWeights {
  name: string; version: number; ref: string; domain: Domain | 'mixed';
  /** Each evaluation suite's headline figures, when the record was evaluated. */
  evaluation?: Record<string, Record<string, number | string | boolean>>;
}

export interface MetricRow {
  step: number; time_ms: number; loss: number | null; grad_norm: number | null;
  update_norm: number | null; param_norm: number | null; lr: number | null; duration_us: number | null;
  /** Every parameter group's lr, in the session's group order; null without groups or for a skipped step. */
  group_lr: (number | null)[] | null;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  idempotent?: boolean;
  retryCodes?: Set<string>;
}

export declare class Client {
  constructor(opts?: string | ClientOptions);
  readonly url: string;
  apiKey: string | null;
  timeout: number;
  retries: number;
  backoff: number;
  maxBackoff: number;
  request(method: string, path: string, opts?: RequestOptions): Promise<Response>;
  json<T = any>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  health(): Promise<{ status: 'ready' | 'starting' | 'draining' }>;
  optimizers(): Promise<OptimizerInfo[]>;
  config(): Promise<Record<string, string | number>>;
  createSession(optimizer: string, opts: CreateSessionOptions): Promise<Session>;
  session(id: string): Promise<Session>;
  sessions(opts?: {
    pageSize?: number;
    status?: 'active' | 'diverged' | 'finished' | 'archived';
    name?: string;
    tag?: string;
    optimizer?: string;
    q?: string;
  }): AsyncGenerator<SessionDescription, void, unknown>;
}

export declare class Session {
  constructor(client: Client, desc: SessionDescription);
  readonly client: Client;
  readonly id: string;
  readonly numParams: number;
  desc: SessionDescription;
  /** The last step this object saw applied; the next step sends lastStep + 1. */
  lastStep: number;
  step(grads: ArrayLike<number>, opts?: { loss?: number; worker?: string }): Promise<Float32Array>;
  resync(): Promise<number>;
  params(): Promise<Float32Array>;
  feedback(step: number, loss: number, metrics?: Record<string, number>): Promise<{ step: number; loss: number; stored: true }>;
  metrics(opts?: { after?: number; limit?: number }): Promise<MetricRow[]>;
  info(): Promise<SessionDescription>;
  update(change: { name?: string; tags?: Record<string, string>; status?: 'active' | 'finished' | 'archived' }): Promise<SessionDescription>;
  delete(): Promise<{ id: string; deleted: true }>;
}
