import { LabIcon } from '@jupyterlab/ui-components';

const containerSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M21 7.5 12 2.5 3 7.5v9l9 5 9-5v-9zm-9-2.7 6.2 3.45L12 11.7 5.8 8.25 12 4.8zM5 9.95l6 3.33v6.1l-6-3.33v-6.1zm8 9.43v-6.1l6-3.33v6.1l-6 3.33z"/>
  </g>
</svg>`;

/**
 * The jupyter_r2d container icon (sidebar tab, log tabs, commands).
 */
export const containerIcon = new LabIcon({
  name: 'jupyter-r2d:container',
  svgstr: containerSvg
});
