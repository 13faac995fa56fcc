import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

// eslint-disable-next-line jupyter/prefer-lazy-imports -- the sidebar is added at start
import { ImagesPanel } from './panel';

/**
 * Command ids of jupyter_r2d.
 */
export namespace CommandIDs {
  /** Show the Images panel. */
  export const openPanel = 'jupyter-r2d:open-panel';
  /** Refresh the engine status. */
  export const refreshEngine = 'jupyter-r2d:refresh-engine';
}

/**
 * The Images sidebar plugin.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-r2d:panel',
  description:
    'The Images sidebar: container engine status, builds and images.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const tr = translator ?? nullTranslator;
    const trans = tr.load('jupyter_r2d');
    const panel = new ImagesPanel({ translator: tr });
    app.shell.add(panel, 'left', { rank: 850 });
    if (restorer) {
      restorer.add(panel, 'jupyter-r2d-images');
    }
    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Show the Images Panel'),
      caption: trans.__('Open the jupyter_r2d Images sidebar'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.refreshEngine, {
      label: trans.__('Refresh Container Engine Status'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => panel.refreshEngine()
    });
    if (palette) {
      const category = trans.__('Container Images');
      palette.addItem({ command: CommandIDs.openPanel, category });
      palette.addItem({ command: CommandIDs.refreshEngine, category });
    }
  }
};

export default [panelPlugin];
