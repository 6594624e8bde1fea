/**
 * The jobs this server knows, as the panel shows them: pure state, fed by REST
 * answers and WebSocket frames, with no DOM and no network.
 *
 * Frames are numbered by the server (`seq`, per `stream`); the model keeps the
 * cursor of each job, so a reconnect resumes after the last frame applied and a
 * frame seen twice is ignored: log lines are never duplicated.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { EventFrame, ICellResult, IJob, isFinal, JobState } from './types';

/** Where a cell job came from, remembered at submit time (for placing its outputs). */
export interface ICellOrigin {
  path: string;
  cellId: string;
  source: string;
}

/** Per-cell progress: `current` is the cell running (or last run), `done` how many ended. */
export interface IProgress {
  current: number;
  done: number;
  of: number;
}

export interface IJobEntry {
  job: IJob;
  log: string[];
  progress: IProgress | null;
  /** The sentence of an `error` frame (the job vanished on the service, say). */
  error: string | null;
  /** The feed's id and the last frame applied: `?stream=...&after=...` on reconnect. */
  stream: string | null;
  after: number;
  /** True once the feed sent `end` (no reconnect needed). */
  ended: boolean;
  origin: ICellOrigin | null;
  /** Outputs that could not go to their cell (edited, deleted, or notebook closed). */
  heldOutputs: ICellResult | null;
  /** Why they are held, as a sentence for the panel. */
  heldReason: string | null;
}

/** What changed in one update: the panel re-renders, the plugin reacts to transitions. */
export interface IJobChange {
  id: string;
  from: JobState | null;
  to: JobState;
}

/** The server's progress field (`cell` = cells done) as the model's progress. */
function progressOfJob(job: IJob): IProgress | null {
  const p = job.progress;
  if (!p || typeof p.cell !== 'number' || typeof p.of !== 'number') {
    return null;
  }
  return { current: Math.min(p.cell + 1, p.of), done: p.cell, of: p.of };
}

/** True when the move `from` -> `to` is allowed: final states are never left. */
export function canMove(from: JobState, to: JobState): boolean {
  if (from === to) {
    return true;
  }
  if (isFinal(from)) {
    return false;
  }
  return !(from === 'running' && to === 'pending');
}

export class JobsModel {
  get changed(): ISignal<this, IJobChange> {
    return this._changed;
  }

  get ids(): string[] {
    return [...this._entries.keys()];
  }

  /** Entries newest first (by submission time, then id). */
  list(): IJobEntry[] {
    const submitted = (e: IJobEntry) => e.job.provenance?.submitted_at ?? '';
    return [...this._entries.values()].sort((a, b) =>
      submitted(a) === submitted(b)
        ? b.job.id.localeCompare(a.job.id)
        : submitted(b).localeCompare(submitted(a))
    );
  }

  get(id: string): IJobEntry | undefined {
    return this._entries.get(id);
  }

  /**
   * Add or refresh a job from a REST answer or a `state` frame. A stale snapshot
   * (a final job reported open again, running reported pending) is ignored.
   */
  upsert(job: IJob, origin: ICellOrigin | null = null): IJobEntry {
    const entry = this._entries.get(job.id);
    if (!entry) {
      const created: IJobEntry = {
        job,
        log: [],
        progress: progressOfJob(job),
        error: null,
        stream: null,
        after: 0,
        ended: false,
        origin,
        heldOutputs: null,
        heldReason: null
      };
      this._entries.set(job.id, created);
      this._changed.emit({ id: job.id, from: null, to: job.state });
      return created;
    }
    if (origin) {
      entry.origin = origin;
    }
    const from = entry.job.state;
    if (!canMove(from, job.state)) {
      return entry;
    }
    entry.job = job;
    const progress = progressOfJob(job);
    if (progress && (!entry.progress || progress.done >= entry.progress.done)) {
      entry.progress = { ...progress, current: Math.max(progress.current, entry.progress?.current ?? 0) };
    }
    this._changed.emit({ id: job.id, from, to: job.state });
    return entry;
  }

  /** Forget jobs the server no longer lists (keeps those in `keep`). */
  retain(keep: Set<string>): void {
    for (const id of [...this._entries.keys()]) {
      if (!keep.has(id)) {
        this._entries.delete(id);
      }
    }
  }

  /** Apply one WebSocket frame of job `id`; frames already applied are skipped. */
  apply(id: string, frame: EventFrame): void {
    const entry = this._entries.get(id);
    if (!entry) {
      return;
    }
    if (frame.type === 'hello') {
      if (frame.reset || (entry.stream !== null && entry.stream !== frame.stream)) {
        // A new feed (the server restarted): it sends everything from its start again.
        entry.log = [];
        entry.after = 0;
      }
      entry.stream = frame.stream;
      return;
    }
    if (frame.seq <= entry.after) {
      return;
    }
    entry.after = frame.seq;
    const from = entry.job.state;
    switch (frame.type) {
      case 'state':
        this.upsert(frame.job);
        return;
      case 'progress': {
        const done = frame.event === 'end' ? frame.cell : frame.cell - 1;
        entry.progress = { current: frame.cell, done, of: frame.of };
        break;
      }
      case 'log':
        entry.log.push(frame.line);
        break;
      case 'error':
        entry.error = frame.message;
        entry.ended = true;
        break;
      case 'end':
        entry.ended = true;
        break;
    }
    this._changed.emit({ id, from, to: entry.job.state });
  }

  /** The job cannot be followed any more (its events and its REST answer fail): say why. */
  lose(id: string, message: string): void {
    const entry = this._entries.get(id);
    if (entry) {
      entry.error = message;
      entry.ended = true;
      this._changed.emit({ id, from: entry.job.state, to: entry.job.state });
    }
  }

  /** Keep a cell job's outputs on the job, with why they did not go to the cell. */
  hold(id: string, outputs: ICellResult, reason: string): void {
    const entry = this._entries.get(id);
    if (entry) {
      entry.heldOutputs = outputs;
      entry.heldReason = reason;
      this._changed.emit({ id, from: entry.job.state, to: entry.job.state });
    }
  }

  /** The held outputs were inserted: drop them. */
  release(id: string): void {
    const entry = this._entries.get(id);
    if (entry) {
      entry.heldOutputs = null;
      entry.heldReason = null;
      this._changed.emit({ id, from: entry.job.state, to: entry.job.state });
    }
  }

  private _entries = new Map<string, IJobEntry>();
  private _changed = new Signal<this, IJobChange>(this);
}
