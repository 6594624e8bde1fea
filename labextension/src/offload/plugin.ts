/**
 * The offload plugin: commands (notebook, cell, jobs panel), the notebook toolbar
 * button, the "Remote jobs" sidebar and the settings. Menus, the cell context
 * menu and the shortcut are declared in `schema/offload.json`.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification, ToolbarButton } from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { OffloadClient } from './api';
import { drawBadges, forgetRemote } from './cells';
import { errorText, JobsController } from './controller';
import { askSubmit } from './dialog';
import { JobsModel } from './model';
import { JobsPanel } from './panel';
import { readParameters } from './params';
import { IOffloadSettings, OFFLOAD_PLUGIN_ID, readSettings } from './settings';
import { IJob, IJobRequest, ISites } from './types';

export namespace OffloadCommandIDs {
  export const notebook = 'accelhub:offload-notebook';
  export const cell = 'accelhub:offload-cell';
  export const jobs = 'accelhub:offload-jobs';
}

const FLAVOR_KEY = 'accelhub-offload-flavor';

export const remoteIcon = new LabIcon({
  name: 'accelhub:remote',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
    '<path class="jp-icon3" fill="#616161" d="M19.35 10.04A7.49 7.49 0 0 0 12 4C9.11 4 ' +
    '6.6 5.64 5.35 8.04A5.994 5.994 0 0 0 0 14c0 3.31 2.69 6 6 6h13c2.76 0 5-2.24 ' +
    '5-5 0-2.64-2.05-4.78-4.65-4.96zM14 13v4h-4v-4H7l5-5 5 5h-3z"/></svg>'
});

async function chooseAndSubmit(
  controller: JobsController,
  panel: NotebookPanel,
  settings: IOffloadSettings,
  cellId: string | null
): Promise<IJob | null> {
  const cells = panel.content.model?.cells;
  const views = [];
  for (let i = 0; cells && i < cells.length; i++) {
    const cell = cells.get(i);
    const tags = cell.getMetadata('tags');
    views.push({
      cell_type: cell.type,
      source: cell.sharedModel.getSource(),
      tags: Array.isArray(tags) ? tags : []
    });
  }
  const defaultFlavor = window.localStorage.getItem(FLAVOR_KEY) ?? '';
  let sites: ISites;
  try {
    sites = await controller.client.sites(defaultFlavor || undefined);
  } catch (error) {
    Notification.warning(`The sites could not be listed: ${errorText(error)}`);
    sites = { sites: [], automatic: null, flavors: null };
  }
  const choice = await askSubmit({
    kind: cellId ? 'cell' : 'notebook',
    client: controller.client,
    sites,
    parameters: readParameters(views),
    defaultSite: settings.defaultSite,
    defaultFlavor,
    setup: settings.setupCells,
    willSave: panel.context.model.dirty
  });
  if (choice === null) {
    return null;
  }
  if (panel.context.model.dirty) {
    // The server reads the notebook from disk: what is sent is what the user sees.
    await panel.context.save();
  }
  window.localStorage.setItem(FLAVOR_KEY, choice.flavor);
  const request: IJobRequest = {
    path: panel.context.path,
    site: choice.site,
    flavor: choice.flavor,
    parameters: choice.parameters
  };
  let origin = null;
  if (cellId) {
    request.cell_id = cellId;
    request.setup = choice.setup;
    const cell = panel.content.widgets.find(w => w.model.id === cellId);
    origin = { path: panel.context.path, cellId, source: cell?.model.sharedModel.getSource() ?? '' };
  }
  const job = await controller.submit(request, origin);
  if (job) {
    Notification.info(`Job ${job.id} sent to ${job.site || 'a site'}.`, { autoClose: 4000 });
  }
  return job;
}

export const offloadPlugin: JupyterFrontEndPlugin<void> = {
  id: OFFLOAD_PLUGIN_ID,
  description: 'accelhub: run a notebook or one cell on a remote site',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ISettingRegistry, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    registry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null
  ) => {
    let settings = readSettings(null);
    const client = new OffloadClient();
    const model = new JobsModel();
    const controller = new JobsController(app, tracker, client, model, () => settings);
    const panel = new JobsPanel(
      model,
      {
        cancel: id => void controller.cancel(id),
        open: id => void controller.openResult(id),
        rerun: id => void controller.rerun(id),
        insert: id => void controller.insertHeld(id)
      },
      remoteIcon
    );
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, 'accelhub-offload-jobs');

    const current = (): NotebookPanel | null => tracker.currentWidget;
    app.commands.addCommand(OffloadCommandIDs.notebook, {
      label: 'Run on remote site…',
      caption: 'Run on remote site',
      icon: remoteIcon,
      isEnabled: () => current() !== null,
      execute: async () => {
        const notebook = current();
        if (notebook && (await chooseAndSubmit(controller, notebook, settings, null))) {
          app.shell.activateById(panel.id);
        }
      }
    });
    app.commands.addCommand(OffloadCommandIDs.cell, {
      label: 'Run cell on remote site…',
      caption: 'Run the active cell on a remote site',
      icon: remoteIcon,
      isEnabled: () => current()?.content.activeCell?.model.type === 'code',
      execute: async () => {
        const notebook = current();
        const cell = notebook?.content.activeCell;
        if (!notebook || !cell) {
          return;
        }
        if (cell.model.type !== 'code') {
          Notification.error('Only a code cell can run on a remote site.');
          return;
        }
        if (await chooseAndSubmit(controller, notebook, settings, cell.model.id)) {
          app.shell.activateById(panel.id);
        }
      }
    });
    app.commands.addCommand(OffloadCommandIDs.jobs, {
      label: 'Show remote jobs',
      caption: 'The jobs sent to remote sites from this server',
      icon: remoteIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    for (const command of Object.values(OffloadCommandIDs)) {
      palette?.addItem({ command, category: 'accelhub' });
    }

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (notebook: NotebookPanel) => {
        const button = new ToolbarButton({
          icon: remoteIcon,
          tooltip: 'Run on remote site',
          onClick: () => void app.commands.execute(OffloadCommandIDs.notebook)
        });
        notebook.toolbar.insertItem(10, 'accelhubOffload', button);
        void notebook.context.ready.then(() => {
          drawBadges(notebook);
          controller.decorate(notebook);
        });
        return button;
      }
    });
    NotebookActions.executed.connect((_, { notebook, cell }) => {
      const owner = tracker.find(p => p.content === notebook);
      if (owner && cell instanceof CodeCell) {
        forgetRemote(owner, cell);
      }
    });

    if (registry) {
      registry
        .load(OFFLOAD_PLUGIN_ID)
        .then(loaded => {
          settings = readSettings(loaded);
          loaded.changed.connect(() => (settings = readSettings(loaded)));
        })
        .catch(error => console.warn(`accelhub offload settings: ${errorText(error)}`));
    }
    controller
      .load()
      .catch(error => panel.setNote(`The remote jobs could not be listed: ${errorText(error)}`));
  }
};
