/**
 * Wire types of the server's offload API (`accelhub/api/offload/`), mirroring
 * `hub_ext/contract/offload.py`, with runtime checks for what the UI relies on.
 */

export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const JOB_STATES: readonly JobState[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'cancelled'
];
export const FINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export type SetupPolicy = 'tagged' | 'above';

export interface ISite {
  name: string;
  display_name: string;
  ready: boolean;
  last_seen: string | null;
  accelerators: Record<string, number>;
  queue: number;
  message: string | null;
}

export interface IFlavor {
  slug: string;
  display_name: string;
  accelerator: { resource: string; count: number } | null;
}

/** `GET sites`; `automatic` and `flavors` are optional (older servers lack them). */
export interface ISites {
  sites: ISite[];
  automatic: { site: string | null; reason: string } | null;
  flavors: IFlavor[] | null;
}

export interface IProvenance {
  image?: string | null;
  input_sha256?: string | null;
  parameters?: Record<string, unknown>;
  site?: string | null;
  flavor?: string | null;
  resources?: Record<string, unknown>;
  submitted_at?: string | null;
  started_at?: string | null;
  finished_at?: string | null;
  exit?: string | null;
  site_reason?: string | null;
}

export interface IJob {
  id: string;
  user: string;
  name: string;
  state: JobState;
  site: string;
  flavor: string;
  reason?: string | null;
  message?: string | null;
  site_reason?: string | null;
  cell_id?: string | null;
  setup?: string;
  progress?: { cell: number; of: number } | null;
  provenance?: IProvenance;
  energy_wh?: number | null;
  has_result?: boolean;
}

/** The body of `POST jobs`. */
export interface IJobRequest {
  path: string;
  flavor: string;
  site: string;
  parameters: Record<string, unknown>;
  cell_id?: string;
  setup?: SetupPolicy;
}

/** A cell job's outputs, from `POST jobs/{id}/fetch`. */
export interface ICellResult {
  cell_id: string;
  execution_count: number | null;
  outputs: unknown[];
}

/** One frame of `WS jobs/{id}/events` (see `server_ext/offload/events.py`). */
export type EventFrame =
  | { type: 'hello'; stream: string; first: number; last: number; reset: boolean }
  | { seq: number; type: 'state'; job: IJob }
  | {
      seq: number;
      type: 'progress';
      event: 'start' | 'end';
      cell: number;
      of: number;
      id?: string;
      status?: string;
    }
  | { seq: number; type: 'log'; line: string }
  | { seq: number; type: 'error'; message: string }
  | { seq: number; type: 'end'; state: JobState | null };

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}

export function isJob(value: unknown): value is IJob {
  return (
    isObject(value) &&
    typeof value.id === 'string' &&
    typeof value.name === 'string' &&
    typeof value.site === 'string' &&
    JOB_STATES.includes(value.state)
  );
}

function isSite(value: unknown): value is ISite {
  return isObject(value) && typeof value.name === 'string';
}

/** The sites answer, with the optional parts set to null when absent or malformed. */
export function readSites(value: unknown): ISites {
  if (!isObject(value) || !Array.isArray(value.sites)) {
    throw new Error('The server answered without a list of sites.');
  }
  const sites = value.sites.filter(isSite).map((site: any) => ({
    name: site.name,
    display_name: typeof site.display_name === 'string' ? site.display_name : site.name,
    ready: Boolean(site.ready),
    last_seen: typeof site.last_seen === 'string' ? site.last_seen : null,
    accelerators: isObject(site.accelerators) ? site.accelerators : {},
    queue: typeof site.queue === 'number' ? site.queue : 0,
    message: typeof site.message === 'string' ? site.message : null
  }));
  const auto = value.automatic;
  const automatic =
    isObject(auto) && typeof auto.reason === 'string'
      ? { site: typeof auto.site === 'string' ? auto.site : null, reason: auto.reason }
      : null;
  const flavors = Array.isArray(value.flavors)
    ? value.flavors
        .filter((f: unknown) => isObject(f) && typeof f.slug === 'string')
        .map((f: any) => ({
          slug: f.slug,
          display_name: typeof f.display_name === 'string' ? f.display_name : f.slug,
          accelerator: isObject(f.accelerator) ? f.accelerator : null
        }))
    : null;
  return { sites, automatic, flavors };
}

/** A parsed WebSocket frame, or null when it is not one the UI knows. */
export function readFrame(raw: string): EventFrame | null {
  let frame: unknown;
  try {
    frame = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isObject(frame) || typeof frame.type !== 'string') {
    return null;
  }
  if (frame.type === 'hello') {
    return typeof frame.stream === 'string' ? (frame as EventFrame) : null;
  }
  if (typeof frame.seq !== 'number') {
    return null;
  }
  switch (frame.type) {
    case 'state':
      return isJob(frame.job) ? (frame as EventFrame) : null;
    case 'progress':
      return typeof frame.cell === 'number' && typeof frame.of === 'number'
        ? (frame as EventFrame)
        : null;
    case 'log':
      return typeof frame.line === 'string' ? (frame as EventFrame) : null;
    case 'error':
      return typeof frame.message === 'string' ? (frame as EventFrame) : null;
    case 'end':
      return frame as EventFrame;
    default:
      return null;
  }
}
