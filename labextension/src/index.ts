import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './handler';
import { offloadPlugin } from './offload/plugin';
import { describeHealth, IHealth, isHealth } from './health';
import { GpuPanel } from './telemetry/panel';
import { GpuStatusItem } from './telemetry/statusbar';
import { TelemetryStream } from './telemetry/stream';

const PLUGIN_ID = '@accelhub/labextension:plugin';

export namespace CommandIDs {
  export const openGpuPanel = 'accelhub:open-gpu-panel';
}

/** A small status-bar item that shows which accelhub server the page reached. */
class HealthStatus extends Widget {
  readonly stateChanged = new Signal<this, void>(this);

  constructor() {
    super();
    this.addClass('accelhub-HealthStatus');
    this.node.dataset.state = 'loading';
    this.node.textContent = 'accelhub…';
  }

  showOk(text: string): void {
    this.node.dataset.state = 'ok';
    this.node.textContent = text;
    this.node.title = 'accelhub server extension reached';
    this.stateChanged.emit();
  }

  showError(message: string): void {
    this.node.dataset.state = 'error';
    this.node.textContent = 'accelhub unavailable';
    this.node.title = message;
    this.stateChanged.emit();
  }
}

async function fetchHealth(status: HealthStatus): Promise<IHealth | null> {
  try {
    const data = await requestAPI<unknown>('health');
    if (!isHealth(data)) {
      throw new Error('unexpected answer from /accelhub/api/health');
    }
    const text = describeHealth(data);
    console.log(`accelhub server extension reached: ${text}`);
    status.showOk(text);
    return data;
  } catch (reason) {
    const message = reason instanceof Error ? reason.message : String(reason);
    console.error(`accelhub server extension unreachable: ${message}`);
    status.showError(message);
    return null;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'accelhub: GPU telemetry for JupyterLab',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette, ISettingRegistry, ILayoutRestorer],
  activate: async (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null
  ) => {
    console.log('accelhub labextension activated');
    // Shown only when the server extension cannot be reached: otherwise the status bar
    // carries what a researcher needs (the GPU item below), not accelhub's version.
    const status = new HealthStatus();
    statusBar?.registerStatusItem(PLUGIN_ID + ':health', {
      item: status,
      align: 'left',
      rank: 100,
      isActive: () => status.node.dataset.state === 'error',
      activeStateChanged: status.stateChanged
    });

    let intervalSeconds = 1;
    const settings = settingRegistry ? await settingRegistry.load(PLUGIN_ID).catch(() => null) : null;
    if (settings) {
      intervalSeconds = settings.get('telemetryIntervalSeconds').composite as number;
    }

    const health = await fetchHealth(status);
    if (!health?.features.telemetry) {
      return;
    }

    const stream = new TelemetryStream({ intervalSeconds });
    settings?.changed.connect(() => {
      stream.setInterval(settings.get('telemetryIntervalSeconds').composite as number);
    });
    const tracker = new WidgetTracker<GpuPanel>({ namespace: 'accelhub-gpu' });

    app.commands.addCommand(CommandIDs.openGpuPanel, {
      label: 'Open GPU Panel',
      caption: 'Live GPU and MIG telemetry for this server',
      execute: () => {
        let panel = tracker.currentWidget;
        if (!panel || panel.isDisposed) {
          panel = new GpuPanel(stream);
          void tracker.add(panel);
          app.shell.add(panel, 'main', { mode: 'split-right' });
        }
        app.shell.activateById(panel.id);
        return panel;
      }
    });
    palette?.addItem({ command: CommandIDs.openGpuPanel, category: 'accelhub' });
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openGpuPanel,
        name: () => 'gpu-panel'
      });
    }

    statusBar?.registerStatusItem(PLUGIN_ID + ':gpu', {
      item: new GpuStatusItem(stream, () => {
        void app.commands.execute(CommandIDs.openGpuPanel);
      }),
      align: 'left',
      rank: 90
    });
    stream.start();
  }
};

export default [plugin, offloadPlugin];
