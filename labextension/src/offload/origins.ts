/**
 * Cell jobs' origins (notebook path, cell id, source at submit), kept in the
 * browser per server so outputs still find their cell after a reload.
 */
import { ICellOrigin } from './model';

export interface IStoredOrigin extends ICellOrigin {
  /** True once the outputs went to the cell or were inserted. */
  handled: boolean;
}

export class OriginStore {
  constructor(private key: string) {
    try {
      const raw = JSON.parse(window.localStorage.getItem(key) ?? '{}');
      if (raw && typeof raw === 'object') {
        this._all = raw;
      }
    } catch {
      this._all = {};
    }
  }

  get(id: string): IStoredOrigin | null {
    return this._all[id] ?? null;
  }

  set(id: string, origin: ICellOrigin, handled = false): void {
    this._all[id] = { ...origin, handled };
    this._save();
  }

  markHandled(id: string): void {
    const origin = this._all[id];
    if (origin) {
      origin.handled = true;
      this._save();
    }
  }

  /** Forget jobs the server no longer lists. */
  retain(ids: Set<string>): void {
    for (const id of Object.keys(this._all)) {
      if (!ids.has(id)) {
        delete this._all[id];
      }
    }
    this._save();
  }

  private _save(): void {
    try {
      window.localStorage.setItem(this.key, JSON.stringify(this._all));
    } catch {
      // Storage full or disabled: origins live for this page only.
    }
  }

  private _all: Record<string, IStoredOrigin> = {};
}
