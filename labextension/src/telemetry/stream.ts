import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { IDisposable } from '@lumino/disposable';

import { requestAPI } from '../handler';
import { historyToSnapshots, ISnapshot, normaliseSnapshot } from './model';

/** How the connection to the telemetry stream is doing. */
export type ConnectionState = 'connecting' | 'open' | 'closed';

/**
 * One WebSocket per browser tab to the server's shared sampler. Panels and the
 * status bar subscribe to `snapshotReceived`; the stream reconnects with
 * back-off and pauses while the tab is hidden.
 */
export class TelemetryStream implements IDisposable {
  constructor(options: { intervalSeconds: number; settings?: ServerConnection.ISettings }) {
    this._settings = options.settings ?? ServerConnection.makeSettings();
    this._interval = options.intervalSeconds;
    document.addEventListener('visibilitychange', this._onVisibility);
  }

  get snapshotReceived(): ISignal<this, ISnapshot> {
    return this._snapshotReceived;
  }

  get stateChanged(): ISignal<this, ConnectionState> {
    return this._stateChanged;
  }

  get latest(): ISnapshot | null {
    return this._latest;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the connection (idempotent). */
  start(): void {
    if (this._socket || this._disposed) {
      return;
    }
    this._connect();
  }

  /** Ask the server for a new interval between frames (seconds). */
  setInterval(seconds: number): void {
    this._interval = seconds;
    this._send({ action: 'interval', seconds });
  }

  /** The server's recent samples, for a panel that opens late. */
  async history(seconds: number): Promise<ISnapshot[]> {
    const raw = await requestAPI<any>(
      `telemetry/history?seconds=${encodeURIComponent(String(seconds))}`,
      {},
      this._settings
    );
    return historyToSnapshots(raw);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    document.removeEventListener('visibilitychange', this._onVisibility);
    window.clearTimeout(this._retryTimer);
    this._socket?.close();
    this._socket = null;
    Signal.clearData(this);
  }

  private _connect(): void {
    let url = URLExt.join(this._settings.wsUrl, 'accelhub', 'api', 'telemetry', 'stream');
    if (this._settings.token) {
      url += `?token=${encodeURIComponent(this._settings.token)}`;
    }
    this._stateChanged.emit('connecting');
    const socket = new this._settings.WebSocket(url);
    this._socket = socket;
    socket.onopen = () => {
      this._attempt = 0;
      this._stateChanged.emit('open');
      this._send({ action: 'interval', seconds: this._interval });
      if (document.hidden) {
        this._send({ action: 'pause' });
      }
    };
    socket.onmessage = event => {
      let frame: any;
      try {
        frame = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (frame?.type === 'error') {
        console.warn(`accelhub telemetry: ${frame.message}`);
        return;
      }
      if (frame?.type !== 'snapshot') {
        return;
      }
      const snapshot = normaliseSnapshot(frame.data);
      this._latest = snapshot;
      this._snapshotReceived.emit(snapshot);
    };
    socket.onclose = () => {
      this._socket = null;
      this._stateChanged.emit('closed');
      if (!this._disposed) {
        const delay = Math.min(30_000, 1000 * 2 ** this._attempt++);
        this._retryTimer = window.setTimeout(() => this._connect(), delay);
      }
    };
  }

  private _send(message: Record<string, unknown>): void {
    if (this._socket && this._socket.readyState === WebSocket.OPEN) {
      this._socket.send(JSON.stringify(message));
    }
  }

  private _onVisibility = (): void => {
    this._send({ action: document.hidden ? 'pause' : 'resume' });
  };

  private _settings: ServerConnection.ISettings;
  private _interval: number;
  private _socket: WebSocket | null = null;
  private _attempt = 0;
  private _retryTimer = 0;
  private _latest: ISnapshot | null = null;
  private _disposed = false;
  private _snapshotReceived = new Signal<this, ISnapshot>(this);
  private _stateChanged = new Signal<this, ConnectionState>(this);
}
