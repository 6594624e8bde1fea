/**
 * Cell jobs in the notebook: the "running remotely" line, the outputs put back
 * into the cell with a badge naming site and job, or a new cell holding them.
 */
import * as nbformat from '@jupyterlab/nbformat';
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';

import { ICellView } from './placement';
import { ICellResult } from './types';

/** Cell metadata key recording which remote job produced the outputs. */
export const METADATA_KEY = 'accelhub';

export function cellViews(panel: NotebookPanel): ICellView[] {
  const cells = panel.content.model?.cells;
  if (!cells) {
    return [];
  }
  const views: ICellView[] = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    views.push({ id: cell.id, source: cell.sharedModel.getSource() });
  }
  return views;
}

function cellWidget(panel: NotebookPanel, cellId: string): Cell | undefined {
  return panel.content.widgets.find(widget => widget.model.id === cellId);
}

function marker(cell: Cell, className: string): HTMLElement {
  let node = cell.node.querySelector<HTMLElement>(`:scope > .${className}`);
  if (!node) {
    node = document.createElement('div');
    node.className = className;
    node.setAttribute('role', 'status');
    cell.node.appendChild(node);
  }
  return node;
}

/** Show (text) or remove (null) the "Running on <site>: <state>" line of a cell. */
export function showRunning(panel: NotebookPanel, cellId: string, text: string | null): void {
  const cell = cellWidget(panel, cellId);
  if (!cell) {
    return;
  }
  if (text === null) {
    cell.node.querySelector(':scope > .accelhub-CellRemote')?.remove();
    return;
  }
  marker(cell, 'accelhub-CellRemote').textContent = text;
}

function badgeText(value: unknown): string | null {
  const v = value as { site?: unknown; job?: unknown } | undefined;
  return v && typeof v.site === 'string' && typeof v.job === 'string'
    ? `${v.site} · job ${v.job}`
    : null;
}

/** Draw the badge of every cell whose metadata names a remote job (after a reload too). */
export function drawBadges(panel: NotebookPanel): void {
  for (const cell of panel.content.widgets) {
    const text = badgeText(cell.model.getMetadata(METADATA_KEY));
    const existing = cell.node.querySelector(':scope > .accelhub-CellBadge');
    if (text) {
      marker(cell, 'accelhub-CellBadge').textContent = text;
    } else {
      existing?.remove();
    }
  }
}

/** The job's outputs replace the cell's; the notebook becomes dirty, nothing is saved. */
export function putOutputs(
  panel: NotebookPanel,
  index: number,
  result: ICellResult,
  site: string,
  jobId: string
): void {
  const model = panel.content.model?.cells.get(index);
  if (!model || model.type !== 'code') {
    return;
  }
  const code = model as ICodeCellModel;
  code.outputs.clear();
  for (const output of result.outputs) {
    code.outputs.add(output as nbformat.IOutput);
  }
  code.executionCount = result.execution_count;
  code.setMetadata(METADATA_KEY, { site, job: jobId });
  panel.context.model.dirty = true;
  drawBadges(panel);
}

/** A new code cell holding what ran and its outputs, below `after` (or the active cell). */
export function insertCell(
  panel: NotebookPanel,
  after: number | null,
  source: string,
  result: ICellResult,
  site: string,
  jobId: string
): void {
  const notebook = panel.content;
  const shared = notebook.model?.sharedModel;
  if (!shared) {
    return;
  }
  const index = (after ?? notebook.activeCellIndex) + 1;
  shared.insertCell(index, {
    cell_type: 'code',
    source,
    outputs: result.outputs as nbformat.IOutput[],
    execution_count: result.execution_count,
    metadata: { [METADATA_KEY]: { site, job: jobId } }
  });
  notebook.activeCellIndex = index;
  panel.context.model.dirty = true;
  // The new cell's widget is created on the model change; draw once it exists.
  requestAnimationFrame(() => drawBadges(panel));
}

/** A cell run locally again is no longer the remote job's: drop its badge. */
export function forgetRemote(panel: NotebookPanel, cell: Cell): void {
  if (cell.model.getMetadata(METADATA_KEY) !== undefined) {
    cell.model.deleteMetadata(METADATA_KEY);
    drawBadges(panel);
  }
}
