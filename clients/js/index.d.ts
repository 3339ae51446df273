// Type declarations of the optirs Node client (index.js).
// They follow index.js member for member (clients/js/test/dts.test.mjs checks
// the names against the runtime objects) and the response schemas of
// proto/openapi.yaml; clients/js/test/types-check.ts uses them as the docs do
// (`tsc --noEmit --strict`, `make js-types`).

export declare const DEFAULT_URL: string;
export declare const RETRYABLE_CODES: Set<string>;

/** An error answered by optirsd, or `connection_error` (status 0). */
export declare class OptirsError extends Error {
  constructor(code: string, status: number, message: string, expected?: number | null, body?: unknown);
  readonly name: 'OptirsError';
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
  /** http(s)://HOST[:PORT][/prefix] or unix:///ABSOLUTE/PATH (a daemon's --listen unix: socket file).
   * Default: $OPTIRS_URL, then http://127.0.0.1:8080. */
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
  /** Element type of step requests (default 'f32'; proto/binary.md §8). */
  dtype?: Dtype;
  /** Element type of step answers (default: dtype). */
  answerDtype?: Dtype;
}

/** The wire element types of binary step bodies. */
export type Dtype = 'f32' | 'f16' | 'bf16';
export declare const DTYPES: readonly Dtype[];
/** float16 bits of x (rounded to float32, then to nearest even). */
export declare function f16Bits(x: number): number;
/** bfloat16 bits of x (rounded to float32, then to nearest even). */
export declare function bf16Bits(x: number): number;
export declare function f16Value(bits: number): number;
export declare function bf16Value(bits: number): number;
/** A vector as the little-endian bytes of dtype. */
export declare function encodeVector(v: ArrayLike<number>, dtype: Dtype): Uint8Array;
/** Little-endian bytes of dtype as a Float32Array. */
export declare function decodeVector(buf: ArrayBuffer, dtype: Dtype): Float32Array;

export type Shape = number[];
/** A tensor of a create request.  inputs and role are its place in the model's tensor graph
 * (optional; graph_lopt reads it, other optimizers accept it): the names of the tensors feeding
 * it (at most 8; absent: the previous tensor) and its role (absent: from the shape). */
export interface TensorSpec { name?: string; shape: Shape; inputs?: string[]; role?: TensorRole }

export type TensorRole = 'weight' | 'bias' | 'embedding' | 'norm' | 'other';

export interface CreateSessionOptions {
  tensors: Array<Shape | TensorSpec | number>;
  /** Numbers; mlp_lopt's activation and features take their names. */
  hyperparams?: Record<string, number | Activation | FeatureSet>;
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

/** mlp_lopt's hidden activation: a hyperparameter whose value is a name. */
export type Activation = 'relu' | 'gelu' | 'swish';

/** mlp_lopt's input feature set (`features`): a hyperparameter whose value is a name. */
export type FeatureSet = 'full' | 'adam' | 'momentum' | 'no_time' | 'no_tensor';

export type SessionStatus = 'active' | 'diverged' | 'finished' | 'archived';

/** An item of `client.sessions()` (openapi SessionSummary): a description without `tensors`. */
export interface SessionSummary {
  id: string;
  /** The tenant whose key created the session ("" without keys). */
  tenant: string;
  created_ms: number;
  optimizer: string;
  hyperparams: Record<string, number | Activation>;
  schedule: 'constant' | 'linear_warmup' | 'cosine' | 'step';
  /** Parameter groups (as torch's param_groups): their tensors and hyperparameters. */
  groups?: Array<{ tensors: string[]; [hyperparam: string]: number | string[] }>;
  weights?: string;
  domain?: Domain;
  num_params: number;
  durability: 'checkpoint' | 'step';
  non_finite: 'reject' | 'skip';
  divergence_factor: number;
  adapt?: Record<string, string | number | boolean>;
  workers: number;
  total_steps: number;
  name: string;
  tags: Record<string, string>;
  step: number;
  status: SessionStatus;
  reason?: string;
  rolled_back_to?: number;
  last_loss: number | null;
  saved_step: number;
  pending_workers?: number;
}

/** A session's description (openapi Session): the summary with its tensors. */
export interface SessionDescription extends SessionSummary {
  tensors: Array<{ name: string; shape: Shape; inputs?: string[]; role?: TensorRole }>;
}

export interface Hyperparameter {
  /** default is a name when values is present (a named hyperparameter: mlp_lopt's activation, features). */
  name: string; default: number | string; min: number; max: number;
  min_exclusive: boolean; max_exclusive: boolean; integer: boolean; description: string;
  values?: string[];
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
  dtype: Dtype;
  answerDtype: Dtype;
  request(method: string, path: string, opts?: RequestOptions): Promise<Response>;
  json<T = any>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  /** GET /readyz; a 503's body too (not an error): `reason` only with storage_unavailable. */
  health(): Promise<{ status: 'ready' | 'starting' | 'draining' | 'storage_unavailable'; reason?: string }>;
  optimizers(): Promise<OptimizerInfo[]>;
  config(): Promise<Record<string, string | number>>;
  createSession(optimizer: string, opts: CreateSessionOptions): Promise<Session>;
  session(id: string): Promise<Session>;
  sessions(opts?: {
    pageSize?: number;
    status?: SessionStatus;
    name?: string;
    /** "key" or "key:value". */
    tag?: string;
    optimizer?: string;
    /** A search in names and tags, ignoring case. */
    q?: string;
  }): AsyncGenerator<SessionSummary, void, unknown>;
}

export declare class Session {
  constructor(client: Client, desc: SessionDescription);
  readonly client: Client;
  readonly id: string;
  readonly numParams: number;
  desc: SessionDescription;
  /** `/v1/sessions/{id}`. */
  readonly path: string;
  /** The last step this object saw applied; the next step sends lastStep + 1. */
  lastStep: number;
  step(grads: ArrayLike<number>, opts?: { loss?: number; worker?: string; dtype?: Dtype; answerDtype?: Dtype }): Promise<Float32Array>;
  resync(): Promise<number>;
  params(): Promise<Float32Array>;
  feedback(step: number, loss: number, metrics?: Record<string, number>): Promise<{ step: number; loss: number; stored: true }>;
  metrics(opts?: { after?: number; limit?: number }): Promise<MetricRow[]>;
  info(): Promise<SessionDescription>;
  update(change: { name?: string; tags?: Record<string, string>; status?: 'active' | 'finished' | 'archived' }): Promise<SessionDescription>;
  delete(): Promise<{ id: string; deleted: true }>;
}
