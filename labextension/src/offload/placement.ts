/**
 * Where a finished cell job's outputs go: into its cell when that cell is still
 * there unchanged (wherever it moved), otherwise onto the job in the panel.
 */
import { ICellOrigin } from './model';

/** What the notebook holds now, per cell. */
export interface ICellView {
  id: string;
  source: string;
}

export type Placement =
  | { kind: 'cell'; index: number }
  | { kind: 'held'; index: number | null; reason: string };

export function placeOutputs(
  cells: readonly ICellView[] | null,
  origin: ICellOrigin
): Placement {
  if (cells === null) {
    return {
      kind: 'held',
      index: null,
      reason: `${origin.path} is not open, so the outputs were kept here.`
    };
  }
  const index = cells.findIndex(cell => cell.id === origin.cellId);
  if (index < 0) {
    return {
      kind: 'held',
      index: null,
      reason: 'The cell was deleted while the job ran, so the outputs were kept here.'
    };
  }
  if (cells[index].source !== origin.source) {
    return {
      kind: 'held',
      index,
      reason: 'The cell was edited while the job ran, so the outputs were kept here.'
    };
  }
  return { kind: 'cell', index };
}
