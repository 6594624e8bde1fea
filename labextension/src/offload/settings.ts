/** The offload settings (schema `schema/offload.json`), read with defaults. */
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { SetupPolicy } from './types';

export const OFFLOAD_PLUGIN_ID = '@accelhub/labextension:offload';

export interface IOffloadSettings {
  defaultSite: string;
  setupCells: SetupPolicy;
  autoOpenResults: boolean;
}

export const DEFAULTS: IOffloadSettings = {
  defaultSite: 'auto',
  setupCells: 'tagged',
  autoOpenResults: true
};

export function readSettings(settings: ISettingRegistry.ISettings | null): IOffloadSettings {
  if (!settings) {
    return { ...DEFAULTS };
  }
  const site = settings.get('defaultSite').composite;
  const setup = settings.get('setupCells').composite;
  const open = settings.get('autoOpenResults').composite;
  return {
    defaultSite: typeof site === 'string' && site ? site : DEFAULTS.defaultSite,
    setupCells: setup === 'above' ? 'above' : 'tagged',
    autoOpenResults: typeof open === 'boolean' ? open : DEFAULTS.autoOpenResults
  };
}
