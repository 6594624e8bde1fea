import { Widget } from '@lumino/widgets';

import { statusBarText } from './format';
import { ISnapshot } from './model';
import { TelemetryStream } from './stream';

/** `GPU 37% · 12.1/40 GB` in the status bar; a click opens the GPU panel. */
export class GpuStatusItem extends Widget {
  constructor(stream: TelemetryStream, onClick: () => void) {
    super();
    this.addClass('accelhub-GpuStatus');
    this.node.title = 'GPU telemetry (click for the GPU panel)';
    this.node.textContent = statusBarText(stream.latest);
    this.node.addEventListener('click', onClick);
    stream.snapshotReceived.connect(this._onSnapshot, this);
  }

  private _onSnapshot(_: TelemetryStream, snapshot: ISnapshot): void {
    this.node.textContent = statusBarText(snapshot);
    this.node.dataset.status = snapshot.status;
  }
}
