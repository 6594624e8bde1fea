import { Widget } from '@lumino/widgets';

import { statusBarText } from './format';
import { IdleWatch } from './idle';
import { ISnapshot } from './model';
import { TelemetryStream } from './stream';

/** A held GPU idle this long turns the status bar item to the warning colour. */
export const IDLE_WARNING_SECONDS = 10 * 60;

/**
 * `GPU 37% · 12.1/40 GB` in the status bar; a click opens the GPU panel. After
 * `IDLE_WARNING_SECONDS` of idle devices it takes the warning colour and says so.
 */
export class GpuStatusItem extends Widget {
  constructor(
    stream: TelemetryStream,
    onClick: () => void,
    warnAfterSeconds = IDLE_WARNING_SECONDS
  ) {
    super();
    this.addClass('accelhub-GpuStatus');
    this._idle = new IdleWatch(warnAfterSeconds);
    this.node.title = 'GPU telemetry (click for the GPU panel)';
    this.node.textContent = statusBarText(stream.latest);
    this.node.addEventListener('click', onClick);
    stream.snapshotReceived.connect(this._onSnapshot, this);
  }

  private _onSnapshot(_: TelemetryStream, snapshot: ISnapshot): void {
    this._idle.update(snapshot);
    this.node.textContent = statusBarText(snapshot);
    this.node.dataset.status = snapshot.status;
    const warn = this._idle.warn(snapshot.timestamp);
    this.node.dataset.idle = warn ? 'true' : 'false';
    const minutes = Math.round(this._idle.idleSeconds(snapshot.timestamp) / 60);
    this.node.title = warn
      ? `The GPU has been idle for ${minutes} min while you hold it: stop the server if you ` +
        'do not need it now (click for the GPU panel)'
      : 'GPU telemetry (click for the GPU panel)';
  }

  private _idle: IdleWatch;
}
