/**
 * The "Remote jobs" sidebar: one item per job with its site, state, elapsed time,
 * per-cell progress, live log, the site's sentence on failure, actions and provenance.
 */
import { Widget } from '@lumino/widgets';
import { LabIcon } from '@jupyterlab/ui-components';

import { duration, elapsedSeconds } from './format';
import { IJobChange, IJobEntry, JobsModel } from './model';
import { isFinal } from './types';

export interface IPanelActions {
  cancel(id: string): void;
  open(id: string): void;
  rerun(id: string): void;
  insert(id: string): void;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function button(name: string, onClick: () => void): HTMLButtonElement {
  const node = element('button', 'jp-Button jp-mod-styled jp-mod-reject accelhub-Job-action', name);
  node.type = 'button';
  node.setAttribute('aria-label', name);
  node.addEventListener('click', onClick);
  return node;
}

function provenanceRows(entry: IJobEntry): [string, string][] {
  const job = entry.job;
  const p = job.provenance ?? {};
  const rows: [string, string][] = [
    ['Image', p.image ?? '—'],
    ['Input hash', p.input_sha256 ?? '—'],
    ['Parameters', JSON.stringify(p.parameters ?? {})],
    ['Site', job.site],
    ['Why this site', p.site_reason ?? job.site_reason ?? '—'],
    ['Flavor', p.flavor ?? job.flavor],
    ['Submitted', p.submitted_at ?? '—'],
    ['Started', p.started_at ?? '—'],
    ['Finished', p.finished_at ?? '—']
  ];
  if (p.exit) {
    rows.push(['Exit', p.exit]);
  }
  if (typeof job.energy_wh === 'number') {
    rows.push(['GPU energy', `${job.energy_wh.toFixed(3)} Wh`]);
  }
  return rows;
}

export class JobsPanel extends Widget {
  constructor(
    private model: JobsModel,
    private actions: IPanelActions,
    icon: LabIcon
  ) {
    super();
    this.id = 'accelhub-offload-jobs';
    this.addClass('accelhub-JobsPanel');
    this.title.icon = icon;
    this.title.caption = 'Remote jobs';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Remote jobs');
    const header = element('h2', 'accelhub-JobsPanel-title', 'Remote jobs');
    this._empty = element('p', 'accelhub-JobsPanel-empty', 'No remote jobs yet. Use "Run on remote site…" in a notebook.');
    this._list = element('ul', 'accelhub-JobsPanel-list');
    this.node.append(header, this._empty, this._list);
    model.changed.connect(this._onChange, this);
    this._timer = window.setInterval(() => this._tick(), 1000);
    this._renderAll();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    super.dispose();
  }

  /** Show a note (the server could not list the jobs, say). */
  setNote(text: string): void {
    this._empty.textContent = text;
  }

  private _onChange(_: JobsModel, change: IJobChange): void {
    if (!this._items.has(change.id)) {
      this._renderAll();
      return;
    }
    this._render(change.id);
  }

  private _renderAll(): void {
    const entries = this.model.list();
    this._empty.hidden = entries.length > 0;
    const keep = new Set(entries.map(e => e.job.id));
    for (const [id, item] of this._items) {
      if (!keep.has(id)) {
        item.node.remove();
        this._items.delete(id);
      }
    }
    for (const entry of entries) {
      this._render(entry.job.id);
      this._list.appendChild(this._items.get(entry.job.id)!.node);
    }
  }

  private _item(id: string): IItem {
    let item = this._items.get(id);
    if (!item) {
      const node = element('li', 'accelhub-Job');
      node.dataset.jobId = id;
      const head = element('div', 'accelhub-Job-head');
      const site = element('span', 'accelhub-Job-site');
      const state = element('span', 'accelhub-Job-state');
      const elapsed = element('span', 'accelhub-Job-elapsed');
      head.append(site, state, elapsed);
      const name = element('div', 'accelhub-Job-name');
      const progress = element('div', 'accelhub-Job-progress');
      progress.setAttribute('role', 'progressbar');
      const bar = element('div', 'accelhub-Job-progressBar');
      const progressText = element('span', 'accelhub-Job-progressText');
      progress.append(bar, progressText);
      const message = element('p', 'accelhub-Job-message');
      message.setAttribute('role', 'status');
      const held = element('p', 'accelhub-Job-held');
      const log = element('pre', 'accelhub-Job-log');
      log.setAttribute('aria-label', 'Log');
      log.tabIndex = 0;
      const buttons = element('div', 'accelhub-Job-actions');
      const details = element('details', 'accelhub-Job-details');
      const summary = element('summary', 'accelhub-Job-detailsToggle', 'Details');
      summary.setAttribute('role', 'button');
      summary.setAttribute('aria-label', 'Details');
      const provenance = element('dl', 'accelhub-Job-provenance');
      details.append(summary, provenance);
      node.append(head, name, progress, message, held, log, buttons, details);
      item = { node, site, state, elapsed, name, progress, bar, progressText, message, held, log, logCount: 0, buttons, provenance, actionsKey: '' };
      this._items.set(id, item);
    }
    return item;
  }

  private _render(id: string): void {
    const entry = this.model.get(id);
    if (!entry) {
      return;
    }
    const item = this._item(id);
    const job = entry.job;
    item.node.dataset.state = job.state;
    item.site.textContent = job.site || 'choosing a site';
    item.state.textContent = job.state;
    item.name.textContent = job.cell_id ? `${job.name} · cell ${job.cell_id}` : job.name;
    item.name.title = `job ${job.id}`;
    this._renderElapsed(entry, item);

    const p = entry.progress;
    const of = p?.of ?? 0;
    item.progress.setAttribute('aria-valuemin', '0');
    item.progress.setAttribute('aria-valuemax', String(of));
    item.progress.setAttribute('aria-valuenow', String(p?.done ?? 0));
    const text = p && of > 0 ? `cell ${Math.max(1, p.current)} of ${of}` : 'no cell started yet';
    item.progress.setAttribute('aria-valuetext', text);
    item.progress.setAttribute('aria-label', `Progress of job ${job.id}`);
    item.progressText.textContent = text;
    item.bar.style.width = of > 0 ? `${Math.round((100 * (p?.done ?? 0)) / of)}%` : '0%';

    const sentence = job.message ?? entry.error;
    item.message.textContent = sentence && job.state !== 'succeeded' ? sentence : '';
    item.message.hidden = !item.message.textContent;
    item.held.textContent = entry.heldReason ?? '';
    item.held.hidden = !entry.heldOutputs;

    if (entry.log.length < item.logCount) {
      item.log.textContent = '';
      item.logCount = 0;
    }
    if (entry.log.length > item.logCount) {
      const follow = item.log.scrollTop + item.log.clientHeight >= item.log.scrollHeight - 4;
      item.log.append(entry.log.slice(item.logCount).join('\n') + '\n');
      item.logCount = entry.log.length;
      if (follow) {
        item.log.scrollTop = item.log.scrollHeight;
      }
    }
    item.log.hidden = entry.log.length === 0;

    this._renderActions(entry, item);
    item.provenance.textContent = '';
    for (const [term, value] of provenanceRows(entry)) {
      item.provenance.append(element('dt', '', term), element('dd', '', value));
    }
  }

  private _renderActions(entry: IJobEntry, item: IItem): void {
    const job = entry.job;
    const final = isFinal(job.state);
    const wanted: string[] = [];
    if (!final) {
      wanted.push('Cancel');
    }
    if (job.state === 'succeeded' && !job.cell_id) {
      wanted.push('Open result');
    }
    if (entry.heldOutputs) {
      wanted.push('Insert outputs');
    }
    if (final) {
      wanted.push('Re-run');
    }
    const key = wanted.join('|');
    if (key === item.actionsKey) {
      return;
    }
    item.actionsKey = key;
    item.buttons.textContent = '';
    const id = job.id;
    const handlers: Record<string, () => void> = {
      Cancel: () => this.actions.cancel(id),
      'Open result': () => this.actions.open(id),
      'Insert outputs': () => this.actions.insert(id),
      'Re-run': () => this.actions.rerun(id)
    };
    for (const name of wanted) {
      item.buttons.appendChild(button(name, handlers[name]));
    }
  }

  private _renderElapsed(entry: IJobEntry, item: IItem): void {
    const seconds = elapsedSeconds(entry.job);
    item.elapsed.textContent = seconds === null ? '' : duration(seconds);
  }

  private _tick(): void {
    if (!this.isVisible) {
      return;
    }
    for (const entry of this.model.list()) {
      const item = this._items.get(entry.job.id);
      if (item && !isFinal(entry.job.state)) {
        this._renderElapsed(entry, item);
      }
    }
  }

  private _empty: HTMLParagraphElement;
  private _list: HTMLUListElement;
  private _items = new Map<string, IItem>();
  private _timer: number;
}

interface IItem {
  node: HTMLLIElement;
  site: HTMLSpanElement;
  state: HTMLSpanElement;
  elapsed: HTMLSpanElement;
  name: HTMLDivElement;
  progress: HTMLDivElement;
  bar: HTMLDivElement;
  progressText: HTMLSpanElement;
  message: HTMLParagraphElement;
  held: HTMLParagraphElement;
  log: HTMLPreElement;
  logCount: number;
  buttons: HTMLDivElement;
  provenance: HTMLDListElement;
  actionsKey: string;
}
