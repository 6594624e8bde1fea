import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './handler';
import { describeHealth, isHealth } from './health';

const PLUGIN_ID = '@accelhub/labextension:plugin';

/** A small status-bar item that shows which accelhub server the page reached. */
class HealthStatus extends Widget {
  constructor() {
    super();
    this.addClass('accelhub-HealthStatus');
    this.node.dataset.state = 'loading';
    this.node.textContent = 'accelhub…';
  }

  show_ok(text: string): void {
    this.node.dataset.state = 'ok';
    this.node.textContent = text;
    this.node.title = 'accelhub server extension reached';
  }

  show_error(message: string): void {
    this.node.dataset.state = 'error';
    this.node.textContent = 'accelhub unavailable';
    this.node.title = message;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'accelhub: GPU telemetry and remote offload for JupyterLab',
  autoStart: true,
  optional: [IStatusBar],
  activate: (_app: JupyterFrontEnd, statusBar: IStatusBar | null) => {
    console.log('accelhub labextension activated');
    const status = new HealthStatus();
    if (statusBar) {
      statusBar.registerStatusItem(PLUGIN_ID + ':health', {
        item: status,
        align: 'left',
        rank: 100
      });
    }
    requestAPI<unknown>('health')
      .then(data => {
        if (!isHealth(data)) {
          throw new Error('unexpected answer from /accelhub/api/health');
        }
        const text = describeHealth(data);
        console.log(`accelhub server extension reached: ${text}`);
        status.show_ok(text);
      })
      .catch((reason: Error) => {
        console.error(`accelhub server extension unreachable: ${reason.message}`);
        status.show_error(reason.message);
      });
  }
};

export default plugin;
