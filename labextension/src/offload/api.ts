/**
 * The server's offload API: REST calls and one event socket per followed job,
 * which reconnects with back-off and resumes from the model's cursor.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from '../handler';
import {
  EventFrame,
  ICellResult,
  IJob,
  IJobRequest,
  ISites,
  isJob,
  readFrame,
  readSites
} from './types';

const BASE = 'offload';

function jobPath(id: string, tail = ''): string {
  return `${BASE}/jobs/${encodeURIComponent(id)}${tail}`;
}

function checkedJob(value: unknown): IJob {
  if (!isJob(value)) {
    throw new Error('The server answered with something that is not a job.');
  }
  return value;
}

export class OffloadClient {
  constructor(settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {
    this.settings = settings;
  }

  readonly settings: ServerConnection.ISettings;

  async sites(flavor?: string): Promise<ISites> {
    const query = flavor ? `?flavor=${encodeURIComponent(flavor)}` : '';
    return readSites(await requestAPI<unknown>(`${BASE}/sites${query}`, {}, this.settings));
  }

  async jobs(): Promise<IJob[]> {
    const data = await requestAPI<any>(`${BASE}/jobs`, {}, this.settings);
    if (!data || !Array.isArray(data.jobs)) {
      throw new Error('The server answered without a list of jobs.');
    }
    return data.jobs.filter(isJob);
  }

  async submit(request: IJobRequest): Promise<IJob> {
    const init = { method: 'POST', body: JSON.stringify(request) };
    return checkedJob(await requestAPI<unknown>(`${BASE}/jobs`, init, this.settings));
  }

  async job(id: string): Promise<IJob> {
    return checkedJob(await requestAPI<unknown>(jobPath(id), {}, this.settings));
  }

  async cancel(id: string): Promise<IJob> {
    return checkedJob(
      await requestAPI<unknown>(jobPath(id), { method: 'DELETE' }, this.settings)
    );
  }

  /** A new job with the same notebook, parameters, flavor and site. */
  async rerun(id: string): Promise<IJob> {
    const init = { method: 'POST', body: '{}' };
    return checkedJob(await requestAPI<unknown>(jobPath(id, '/rerun'), init, this.settings));
  }

  /** Write the executed notebook beside the original; answers its path. */
  async fetchNotebook(id: string, path?: string): Promise<string> {
    const init = { method: 'POST', body: JSON.stringify(path ? { path } : {}) };
    const data = await requestAPI<any>(jobPath(id, '/fetch'), init, this.settings);
    if (!data || typeof data.path !== 'string') {
      throw new Error('The server did not say where it wrote the result.');
    }
    return data.path;
  }

  /** A cell job's outputs. */
  async fetchCell(id: string): Promise<ICellResult> {
    const init = { method: 'POST', body: '{}' };
    const data = await requestAPI<any>(jobPath(id, '/fetch'), init, this.settings);
    if (!data || !Array.isArray(data.outputs) || typeof data.cell_id !== 'string') {
      throw new Error("The server answered without the cell's outputs.");
    }
    return {
      cell_id: data.cell_id,
      execution_count: typeof data.execution_count === 'number' ? data.execution_count : null,
      outputs: data.outputs
    };
  }

  eventsUrl(id: string, stream: string | null, after: number): string {
    const query: string[] = [`after=${after}`];
    if (stream) {
      query.push(`stream=${encodeURIComponent(stream)}`);
    }
    if (this.settings.token) {
      query.push(`token=${encodeURIComponent(this.settings.token)}`);
    }
    return URLExt.join(this.settings.wsUrl, 'accelhub', 'api', jobPath(id)) + '/events?' + query.join('&');
  }
}

/** Where a socket resumes: read from the model each time it (re)connects. */
export interface ICursor {
  stream: string | null;
  after: number;
}

/** Sockets in a row that close before any frame, after which the follower gives up. */
export const MAX_SILENT_ATTEMPTS = 5;

/**
 * Follows one job's events until the server sends `end`. A dropped socket is
 * reopened after 1, 2, 4... (at most 30) seconds from the cursor then current;
 * after MAX_SILENT_ATTEMPTS sockets that closed before any frame (the server
 * refuses the upgrade: the job is gone, say) it stops and calls `onDone(true)`.
 */
export class JobFollower {
  constructor(
    private client: OffloadClient,
    private id: string,
    private cursor: () => ICursor,
    private onFrame: (frame: EventFrame) => void,
    private onDone: (lost: boolean) => void
  ) {}

  start(): void {
    if (!this._socket && !this._stopped) {
      this._connect();
    }
  }

  stop(): void {
    this._stopped = true;
    window.clearTimeout(this._timer);
    this._socket?.close();
    this._socket = null;
  }

  private _connect(): void {
    const { stream, after } = this.cursor();
    const socket = new this.client.settings.WebSocket(this.client.eventsUrl(this.id, stream, after));
    this._socket = socket;
    let ended = false;
    let heard = false;
    socket.onmessage = event => {
      const frame = readFrame(String(event.data));
      if (!frame) {
        return;
      }
      heard = true;
      this._attempt = 0;
      this._silent = 0;
      this.onFrame(frame);
      if (frame.type === 'end' || frame.type === 'error') {
        ended = true;
      }
    };
    socket.onclose = () => {
      this._socket = null;
      this._silent = heard ? 0 : this._silent + 1;
      if (ended || this._stopped || this._silent >= MAX_SILENT_ATTEMPTS) {
        const lost = !ended && !this._stopped;
        this._stopped = true;
        this.onDone(lost);
        return;
      }
      const delay = Math.min(30_000, 1000 * 2 ** this._attempt++);
      this._timer = window.setTimeout(() => this._connect(), delay);
    };
  }

  private _socket: WebSocket | null = null;
  private _attempt = 0;
  private _silent = 0;
  private _timer = 0;
  private _stopped = false;
}
