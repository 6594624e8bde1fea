/**
 * The jobs of this server in the browser: lists them at start, follows open ones
 * live, and reacts when one ends (notification, result opened, outputs placed).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { JobFollower, OffloadClient } from './api';
import { cellViews, insertCell, putOutputs, showRunning } from './cells';
import { ICellOrigin, IJobChange, JobsModel } from './model';
import { OriginStore } from './origins';
import { placeOutputs } from './placement';
import { IOffloadSettings } from './settings';
import { IJob, IJobRequest, isFinal } from './types';

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class JobsController {
  constructor(
    private app: JupyterFrontEnd,
    private tracker: INotebookTracker,
    readonly client: OffloadClient,
    readonly model: JobsModel,
    private settings: () => IOffloadSettings
  ) {
    this._origins = new OriginStore(`accelhub-offload-origins:${client.settings.baseUrl}`);
    model.changed.connect(this._onChange, this);
  }

  /** List the server's jobs (they survive reloads) and follow the open ones. */
  async load(): Promise<void> {
    const jobs = await this.client.jobs();
    const ids = new Set(jobs.map(job => job.id));
    this.model.retain(ids);
    this._origins.retain(ids);
    for (const job of jobs) {
      this._loading = true;
      this.model.upsert(job, this._origins.get(job.id));
      this._loading = false;
      const origin = this._origins.get(job.id);
      if (!isFinal(job.state)) {
        this.follow(job.id);
      } else if (job.state === 'succeeded' && job.cell_id && origin && !origin.handled) {
        void this._cellDone(job);
      }
    }
  }

  /** Send a job; a refusal is shown as the server's sentence and adds nothing. */
  async submit(request: IJobRequest, origin: ICellOrigin | null): Promise<IJob | null> {
    let job: IJob;
    try {
      job = await this.client.submit(request);
    } catch (error) {
      Notification.error(errorText(error), { autoClose: false });
      return null;
    }
    if (origin) {
      this._origins.set(job.id, origin);
    }
    this._added(job, origin);
    return job;
  }

  private _added(job: IJob, origin: ICellOrigin | null): void {
    this.model.upsert(job, origin);
    if (job.state === 'failed') {
      this._notifyFailed(job);
    }
    this.follow(job.id);
  }

  follow(id: string): void {
    if (this._followers.has(id)) {
      return;
    }
    const follower = new JobFollower(
      this.client,
      id,
      () => {
        const entry = this.model.get(id);
        return { stream: entry?.stream ?? null, after: entry?.after ?? 0 };
      },
      frame => this.model.apply(id, frame),
      lost => {
        this._followers.delete(id);
        if (lost) {
          void this._recover(id);
        }
      }
    );
    this._followers.set(id, follower);
    follower.start();
  }

  /** The events socket kept failing: read the job once; follow it again later if still open. */
  private async _recover(id: string): Promise<void> {
    try {
      const job = this.model.upsert(await this.client.job(id)).job;
      if (!isFinal(job.state)) {
        window.setTimeout(() => this.follow(id), 60_000);
      }
    } catch (error) {
      this.model.lose(id, errorText(error));
    }
  }

  async cancel(id: string): Promise<void> {
    try {
      this.model.upsert(await this.client.cancel(id));
    } catch (error) {
      Notification.error(errorText(error), { autoClose: false });
    }
  }

  async openResult(id: string): Promise<void> {
    const entry = this.model.get(id);
    if (!entry) {
      return;
    }
    try {
      const path = await this.client.fetchNotebook(id, entry.job.name);
      await this.app.commands.execute('docmanager:open', { path });
    } catch (error) {
      Notification.error(errorText(error), { autoClose: false });
    }
  }

  /** The same notebook (or cell), parameters, flavor and site, as a new job. */
  async rerun(id: string): Promise<void> {
    const entry = this.model.get(id);
    if (!entry) {
      return;
    }
    let job: IJob;
    try {
      job = await this.client.rerun(id);
    } catch (error) {
      Notification.error(errorText(error), { autoClose: false });
      return;
    }
    let origin: ICellOrigin | null = null;
    if (job.cell_id && entry.origin) {
      // Its outputs go to the same cell, as long as it still reads as it does now.
      const panel = this.panelFor(entry.origin.path);
      const now = panel ? cellViews(panel).find(c => c.id === job.cell_id) : undefined;
      origin = { ...entry.origin, source: now?.source ?? entry.origin.source };
      this._origins.set(job.id, origin);
    }
    this._added(job, origin);
  }

  /** Put held outputs into the notebook as a new cell below the original one. */
  async insertHeld(id: string): Promise<void> {
    const entry = this.model.get(id);
    if (!entry?.heldOutputs || !entry.origin) {
      return;
    }
    let panel = this.panelFor(entry.origin.path);
    if (!panel) {
      const opened = await this.app.commands.execute('docmanager:open', {
        path: entry.origin.path
      });
      panel = opened instanceof NotebookPanel ? opened : null;
      await panel?.context.ready;
    }
    if (!panel) {
      Notification.error(`${entry.origin.path} could not be opened to insert the outputs.`);
      return;
    }
    const views = cellViews(panel);
    const index = views.findIndex(c => c.id === entry.origin!.cellId);
    insertCell(
      panel,
      index >= 0 ? index : null,
      entry.origin.source,
      entry.heldOutputs,
      entry.job.site,
      entry.job.id
    );
    this.model.release(id);
    this._origins.markHandled(id);
  }

  /** Mark the cells of a notebook just opened whose jobs are still running. */
  decorate(panel: NotebookPanel): void {
    for (const entry of this.model.list()) {
      const job = entry.job;
      if (job.cell_id && job.name === panel.context.path && !isFinal(job.state)) {
        showRunning(panel, job.cell_id, `Running on ${job.site || 'a site'}: ${job.state}`);
      }
    }
  }

  panelFor(path: string): NotebookPanel | null {
    return this.tracker.find(panel => panel.context.path === path) ?? null;
  }

  private _onChange(_: JobsModel, change: IJobChange): void {
    const entry = this.model.get(change.id);
    if (!entry) {
      return;
    }
    const job = entry.job;
    if (job.cell_id) {
      const panel = this.panelFor(job.name);
      if (panel) {
        const text = isFinal(job.state) ? null : `Running on ${job.site || 'a site'}: ${job.state}`;
        showRunning(panel, job.cell_id, text);
      }
    }
    const live = change.from !== null && !isFinal(change.from) && !this._loading;
    if (!live || change.from === change.to || !isFinal(change.to)) {
      return;
    }
    if (job.state === 'failed') {
      this._notifyFailed(job);
    } else if (job.state === 'succeeded') {
      if (job.cell_id) {
        void this._cellDone(job);
      } else if (this.settings().autoOpenResults) {
        void this.openResult(job.id);
      }
    }
  }

  private _notifyFailed(job: IJob): void {
    const entry = this.model.get(job.id);
    const sentence = job.message ?? entry?.error ?? 'The job failed without a message.';
    // JupyterLab cuts a toast at 140 characters: the site's words come first, whole, and
    // the job's details are one click away in the panel.
    Notification.error(`${job.site || 'Remote job'}: ${sentence}`, {
      autoClose: false,
      actions: [
        {
          label: 'Show job',
          caption: `Show remote job ${job.id} in the Remote jobs panel`,
          callback: () => void this.app.commands.execute('accelhub:offload-jobs')
        }
      ]
    });
  }

  /** A cell job ended well: its outputs go to the cell, or onto the job in the panel. */
  private async _cellDone(job: IJob): Promise<void> {
    const origin = this.model.get(job.id)?.origin ?? this._origins.get(job.id);
    if (!origin || this._placing.has(job.id)) {
      return;
    }
    this._placing.add(job.id);
    try {
      const result = await this.client.fetchCell(job.id);
      const panel = this.panelFor(origin.path);
      const placement = placeOutputs(panel ? cellViews(panel) : null, origin);
      if (placement.kind === 'cell' && panel) {
        putOutputs(panel, placement.index, result, job.site, job.id);
        this._origins.markHandled(job.id);
      } else if (placement.kind === 'held') {
        this.model.hold(job.id, result, placement.reason);
      }
    } catch (error) {
      Notification.error(errorText(error), { autoClose: false });
    } finally {
      this._placing.delete(job.id);
    }
  }

  private _origins: OriginStore;
  private _followers = new Map<string, JobFollower>();
  private _placing = new Set<string>();
  private _loading = false;
}
