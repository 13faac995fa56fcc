/**
 * Command ids of jupyter_r2d.
 */
export namespace CommandIDs {
  /** Show the Images panel. */
  export const openPanel = 'jupyter-r2d:open-panel';
  /** Refresh the engine status. */
  export const refreshEngine = 'jupyter-r2d:refresh-engine';
  /** Open the log tab of a job. */
  export const openLog = 'jupyter-r2d:open-log';
  /** Show the build form for a folder. */
  export const buildFolder = 'jupyter-r2d:build-folder';
  /** Open the inspect view of an image (args: ref). */
  export const inspectImage = 'jupyter-r2d:inspect-image';
  /** Run an existing image (args: ref). */
  export const runImage = 'jupyter-r2d:run-image';
  /** Push an existing image (args: ref). */
  export const pushImage = 'jupyter-r2d:push-image';
  /** Remove an image or a tag, after a confirmation (args: ref). */
  export const removeImage = 'jupyter-r2d:remove-image';
  /** Prune dangling jupyter_r2d images, after showing what goes. */
  export const pruneImages = 'jupyter-r2d:prune-images';
  /** Stop and remove a container a run started (args: id, name). */
  export const stopContainer = 'jupyter-r2d:stop-container';
  /** Start a job again with the same settings (args: id). */
  export const rebuildJob = 'jupyter-r2d:rebuild-job';
  /** Forget a finished job and its log (args: id). */
  export const forgetJob = 'jupyter-r2d:forget-job';
}
