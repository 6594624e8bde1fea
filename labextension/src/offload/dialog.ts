/**
 * The submit dialog: site (with health, and what "Automatic" would pick), flavor,
 * the notebook's parameters, and for a cell job the setup-cell policy.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { OffloadClient } from './api';
import { siteLabel } from './format';
import { IParameter, LiteralError, parseLiteral } from './params';
import { IFlavor, ISites, SetupPolicy } from './types';

export interface ISubmitChoice {
  site: string;
  flavor: string;
  parameters: Record<string, unknown>;
  setup: SetupPolicy;
}

export interface IDialogOptions {
  kind: 'notebook' | 'cell';
  client: OffloadClient;
  sites: ISites;
  parameters: IParameter[];
  defaultSite: string;
  defaultFlavor: string;
  setup: SetupPolicy;
  /** The notebook has unsaved changes, which are saved before sending. */
  willSave: boolean;
  /** What was wrong with the previous attempt (the form is shown again, as it was). */
  problem?: string;
}

/** A form that cannot be sent: why, and what the user had typed. */
interface IProblem {
  problem: string;
  site: string;
  flavor: string;
  setup: SetupPolicy;
  texts: Record<string, string>;
}

let counter = 0;

function labelled<T extends HTMLElement>(
  parent: HTMLElement,
  text: string,
  control: T
): T {
  const id = `accelhub-offload-${++counter}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = text;
  control.id = id;
  const row = document.createElement('div');
  row.className = 'accelhub-OffloadDialog-row';
  row.append(label, control);
  parent.appendChild(row);
  return control;
}

function option(select: HTMLSelectElement, value: string, text: string): void {
  const node = document.createElement('option');
  node.value = value;
  node.textContent = text;
  select.appendChild(node);
}

/** The dialog's body; `getValue` reads the form (or says what is wrong with it). */
export class SubmitForm extends Widget implements Dialog.IBodyWidget<ISubmitChoice | IProblem> {
  constructor(private options: IDialogOptions) {
    super();
    this.addClass('accelhub-OffloadDialog');
    const form = this.node;
    if (options.problem) {
      const problem = document.createElement('p');
      problem.className = 'accelhub-OffloadDialog-problem';
      problem.setAttribute('role', 'alert');
      problem.textContent = options.problem;
      form.appendChild(problem);
    }

    this._site = labelled(form, 'Site', document.createElement('select'));
    this._site.className = 'jp-mod-styled';
    this._automatic = document.createElement('p');
    this._automatic.className = 'accelhub-OffloadDialog-automatic';
    this._automatic.setAttribute('aria-live', 'polite');
    form.appendChild(this._automatic);
    this._fillSites(options.sites);
    this._site.value = [...this._site.options].some(o => o.value === options.defaultSite)
      ? options.defaultSite
      : 'auto';

    this._flavor = this._flavorControl(options.sites.flavors);
    this._flavor.addEventListener('change', () => void this._refresh());
    if (this._flavor.value !== options.defaultFlavor) {
      void this._refresh();
    }

    if (options.kind === 'cell') {
      this._setup = labelled(form, 'Setup cells', document.createElement('select'));
      this._setup.className = 'jp-mod-styled';
      option(this._setup, 'tagged', 'Cells tagged setup');
      option(this._setup, 'above', 'Every code cell above');
      this._setup.value = options.setup;
    }

    const fieldset = document.createElement('fieldset');
    fieldset.className = 'accelhub-OffloadDialog-parameters';
    const legend = document.createElement('legend');
    legend.textContent = 'Parameters';
    fieldset.appendChild(legend);
    if (options.parameters.length === 0) {
      const none = document.createElement('p');
      none.textContent = 'This notebook has no cell tagged parameters.';
      fieldset.appendChild(none);
    }
    for (const parameter of options.parameters) {
      const input = labelled(fieldset, parameter.name, document.createElement('input'));
      input.className = 'jp-mod-styled';
      input.value = parameter.text;
      this._inputs.set(parameter.name, input);
    }
    form.appendChild(fieldset);
    if (options.willSave) {
      const note = document.createElement('p');
      note.className = 'accelhub-OffloadDialog-note';
      note.textContent =
        'The notebook has unsaved changes: Submit saves it first, since the server sends the file on disk.';
      form.appendChild(note);
    }
    this._showAutomatic(options.sites);
  }

  getValue(): ISubmitChoice | IProblem {
    const site = this._site.value;
    const flavor = this._flavor.value.trim();
    const setup = (this._setup?.value as SetupPolicy) ?? this.options.setup;
    const texts: Record<string, string> = {};
    this._inputs.forEach((input, name) => (texts[name] = input.value));
    const refuse = (problem: string): IProblem => ({ problem, site, flavor, setup, texts });
    const parameters: Record<string, unknown> = {};
    for (const [name, text] of Object.entries(texts)) {
      try {
        parameters[name] = parseLiteral(text);
      } catch (error) {
        const why = error instanceof LiteralError ? error.message : String(error);
        return refuse(`Parameter ${name} is not a Python literal: ${why}.`);
      }
    }
    if (!flavor) {
      return refuse(
        this.options.sites.flavors?.length === 0
          ? 'No flavor is open to you for offloading: ask your platform admins.'
          : 'Choose a flavor.'
      );
    }
    return { site, flavor, parameters, setup };
  }

  private _flavorControl(flavors: IFlavor[] | null): HTMLSelectElement | HTMLInputElement {
    if (flavors) {
      const select = labelled(this.node, 'Flavor', document.createElement('select'));
      select.className = 'jp-mod-styled';
      if (flavors.length === 0) {
        option(select, '', 'No flavor is open to you for offloading');
      }
      for (const flavor of flavors) {
        const accel = flavor.accelerator
          ? ` (${flavor.accelerator.count} × ${flavor.accelerator.resource})`
          : '';
        option(select, flavor.slug, flavor.display_name + accel);
      }
      if (flavors.some(f => f.slug === this.options.defaultFlavor)) {
        select.value = this.options.defaultFlavor;
      }
      return select;
    }
    // The server does not list the flavors this user may use: the slug is typed in.
    const input = labelled(this.node, 'Flavor', document.createElement('input'));
    input.className = 'jp-mod-styled';
    input.placeholder = 'flavor slug, e.g. gpu-small';
    input.value = this.options.defaultFlavor;
    return input;
  }

  private _fillSites(sites: ISites): void {
    const chosen = this._site.value;
    this._site.textContent = '';
    option(this._site, 'auto', 'Automatic');
    for (const site of sites.sites) {
      option(this._site, site.name, siteLabel(site));
    }
    if (chosen) {
      this._site.value = chosen;
    }
  }

  private _showAutomatic(sites: ISites): void {
    const auto = sites.automatic;
    if (!auto) {
      this._automatic.textContent =
        'Automatic: the service picks a ready site with a free accelerator of the flavor.';
    } else if (auto.site) {
      const site = sites.sites.find(s => s.name === auto.site);
      this._automatic.textContent = `Automatic would pick ${site?.display_name ?? auto.site}: ${auto.reason}`;
    } else {
      this._automatic.textContent = `Automatic finds no site now: ${auto.reason}`;
    }
  }

  /** Ask the server again for the sites as seen for the chosen flavor. */
  private async _refresh(): Promise<void> {
    const flavor = this._flavor.value.trim();
    try {
      const sites = await this.options.client.sites(flavor || undefined);
      this._fillSites(sites);
      this._showAutomatic(sites);
    } catch {
      // Keep what is shown; the submit answers with the server's sentence if it matters.
    }
  }

  private _site: HTMLSelectElement;
  private _automatic: HTMLParagraphElement;
  private _flavor: HTMLSelectElement | HTMLInputElement;
  private _setup: HTMLSelectElement | null = null;
  private _inputs = new Map<string, HTMLInputElement>();
}

/**
 * Show the dialog; the choice, or null when cancelled. A form that cannot be sent
 * (a parameter that is not a literal, no flavor) is shown again as typed, saying why.
 */
export async function askSubmit(options: IDialogOptions): Promise<ISubmitChoice | null> {
  let current = options;
  for (;;) {
    const result = await showDialog({
      title: current.kind === 'cell' ? 'Run cell on a remote site' : 'Run on a remote site',
      body: new SubmitForm(current),
      buttons: [Dialog.cancelButton({ label: 'Cancel' }), Dialog.okButton({ label: 'Submit' })]
    });
    const value = result.value;
    if (!result.button.accept || value === null) {
      return null;
    }
    if (!('problem' in value)) {
      return value;
    }
    current = {
      ...current,
      problem: value.problem,
      defaultSite: value.site,
      defaultFlavor: value.flavor,
      setup: value.setup,
      parameters: current.parameters.map(p => ({ ...p, text: value.texts[p.name] ?? p.text }))
    };
  }
}
