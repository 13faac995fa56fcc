import { showDialog, Dialog, Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { APIError, IImage, removeImage } from './api';
import { DateTime } from './dates';

/** Human-readable bytes. */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value >= 10 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** The repository part of an image reference. */
export function repositoryOf(tag: string): string {
  const at = tag.lastIndexOf(':');
  return at > tag.lastIndexOf('/') ? tag.slice(0, at) : tag;
}

/** Sort keys of the image browser. */
export type ImageSort = 'created' | 'size' | 'name';

/** One image as shown in a repository group (the tags of that repository). */
export interface IImageEntry {
  /** The image. */
  image: IImage;
  /** Its tags in this repository (empty for a dangling image). */
  tags: string[];
}

/** Group images by repository (an image with several tags shows in each), filtered and sorted. */
export function groupImages(
  images: IImage[],
  filter: string,
  sort: ImageSort
): [string, IImageEntry[]][] {
  const needle = filter.trim().toLowerCase();
  const groups = new Map<string, IImageEntry[]>();
  for (const image of images) {
    const byRepo = new Map<string, string[]>();
    for (const tag of image.tags) {
      const repo = repositoryOf(tag);
      byRepo.set(repo, [...(byRepo.get(repo) ?? []), tag]);
    }
    if (image.tags.length === 0) {
      byRepo.set('<none>', []);
    }
    const extra = `${image.id} ${image.r2d?.source ?? ''}`.toLowerCase();
    for (const [repo, tags] of byRepo) {
      if (
        needle &&
        !repo.toLowerCase().includes(needle) &&
        !tags.some(t => t.toLowerCase().includes(needle)) &&
        !extra.includes(needle)
      ) {
        continue;
      }
      const group = groups.get(repo) ?? [];
      group.push({ image, tags });
      groups.set(repo, group);
    }
  }
  const key = (group: IImageEntry[]): number =>
    sort === 'size'
      ? -Math.max(...group.map(e => e.image.size))
      : -Math.max(...group.map(e => Date.parse(e.image.created) || 0));
  const entries = [...groups.entries()];
  entries.sort((a, b) =>
    sort === 'name' ? a[0].localeCompare(b[0]) : key(a[1]) - key(b[1])
  );
  return entries;
}

/**
 * Remove an image or one of its tags, after a confirmation; an image a
 * container uses gets an explanation instead (removing one of several tags
 * only untags, which Docker allows even then).
 *
 * @returns whether something was removed
 */
export async function removeImageInteractive(
  image: IImage,
  ref: string,
  trans: TranslationBundle
): Promise<boolean> {
  const explainInUse = async (detail: string | null) => {
    await showDialog({
      title: trans.__('Image in use'),
      body: (
        <div className="jp-r2d-dialog-body">
          <p>
            {trans.__(
              '%1 is used by a container. Stop the container first (Containers section), then remove the image.',
              ref
            )}
          </p>
          {detail && <p className="jp-r2d-error-text">{detail}</p>}
        </div>
      ),
      buttons: [Dialog.okButton({ label: trans.__('Ok') })]
    });
  };
  const untag = image.tags.length > 1 && image.tags.includes(ref);
  if (image.in_use && !untag) {
    await explainInUse(null);
    return false;
  }
  const others = image.tags.filter(t => t !== ref);
  const answer = await showDialog({
    title: untag ? trans.__('Remove tag') : trans.__('Remove image'),
    body: untag
      ? trans.__(
          'Remove the tag %1? The image stays as %2.',
          ref,
          others.join(', ')
        )
      : trans.__(
          'Remove %1? This frees %2.',
          ref,
          formatSize(image.unique_size)
        ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Remove') })
    ]
  });
  if (!answer.button.accept) {
    return false;
  }
  try {
    await removeImage(ref);
    Notification.success(trans.__('Removed %1', ref), { autoClose: 3000 });
    return true;
  } catch (error) {
    if (error instanceof APIError && error.status === 409) {
      await explainInUse(error.message);
    } else {
      await showDialog({
        title: trans.__('Cannot remove %1', ref),
        body: (error as Error).message,
        buttons: [Dialog.okButton({ label: trans.__('Ok') })]
      });
    }
    return false;
  }
}

/**
 * Props of the image browser.
 */
export interface IImageBrowserProps {
  /** The images. */
  images: IImage[];
  /** What all images take on disk, shared layers counted once (null: unknown). */
  diskSize: number | null;
  /** Open the inspect view of an image. */
  onInspect: (ref: string) => void;
  /** Open the actions menu (run, push, remove) of an image at a button. */
  onMenu: (ref: string, anchor: HTMLElement) => void;
  /** Prune dangling jupyter_r2d images. */
  onPrune: () => void;
  /** Translation bundle. */
  trans: TranslationBundle;
}

/**
 * The image browser: grouped by repository, with tags, size, age, the
 * repo2docker badge, dangling/in-use markers, total disk, filter and sort.
 */
export function ImageBrowser(props: IImageBrowserProps): JSX.Element {
  const { trans } = props;
  const [filter, setFilter] = React.useState('');
  const [sort, setSort] = React.useState<ImageSort>('created');
  const groups = React.useMemo(
    () => groupImages(props.images, filter, sort),
    [props.images, filter, sort]
  );

  return (
    <div className="jp-r2d-images">
      <div className="jp-r2d-images-tools">
        <input
          className="jp-mod-styled"
          type="search"
          placeholder={trans.__('Filter images')}
          aria-label={trans.__('Filter images')}
          value={filter}
          onChange={e => setFilter(e.target.value)}
        />
        <select
          className="jp-mod-styled"
          aria-label={trans.__('Sort images')}
          value={sort}
          onChange={e => setSort(e.target.value as ImageSort)}
        >
          <option value="created">{trans.__('Newest')}</option>
          <option value="size">{trans.__('Largest')}</option>
          <option value="name">{trans.__('Name')}</option>
        </select>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject jp-r2d-prune"
          title={trans.__(
            'Remove dangling images that jupyter_r2d built (shows the list first)'
          )}
          aria-label={trans.__('Prune dangling jupyter_r2d images')}
          onClick={() => props.onPrune()}
        >
          {trans.__('Prune…')}
        </button>
      </div>
      <div className="jp-r2d-images-total">
        {props.diskSize === null
          ? trans.__('%1 images', props.images.length)
          : trans.__(
              '%1 images, %2 on disk',
              props.images.length,
              formatSize(props.diskSize)
            )}
      </div>
      <ul className="jp-r2d-image-groups" aria-label={trans.__('Images')}>
        {groups.map(([repo, entries]) => (
          <li key={repo} className="jp-r2d-image-group" data-repo={repo}>
            <div className="jp-r2d-image-repo">{repo}</div>
            <ul>
              {entries.map(({ image, tags }) => {
                const ref = tags[0] ?? image.id;
                return (
                  <li
                    key={image.id + tags.join(',')}
                    className="jp-r2d-image"
                    data-image={ref}
                  >
                    <span className="jp-r2d-image-tags">
                      {tags.length > 0
                        ? tags.map(t => t.slice(repo.length + 1)).join(', ')
                        : image.id.slice(7, 19)}
                    </span>
                    {image.r2d && (
                      <span
                        className="jp-r2d-badge"
                        title={[
                          image.r2d.source,
                          image.r2d.ref,
                          image.r2d.commit
                        ]
                          .filter(Boolean)
                          .join(' ')}
                        aria-label={trans.__(
                          'Built with repo2docker from %1',
                          [image.r2d.source, image.r2d.ref]
                            .filter(Boolean)
                            .join(' @ ')
                        )}
                      >
                        {trans.__('repo2docker')}
                      </span>
                    )}
                    {image.dangling && (
                      <span className="jp-r2d-marker">
                        {trans.__('dangling')}
                      </span>
                    )}
                    {image.in_use && (
                      <span className="jp-r2d-marker jp-r2d-mod-inuse">
                        {trans.__('in use')}
                      </span>
                    )}
                    <span className="jp-r2d-image-meta">
                      {formatSize(image.size)} ·{' '}
                      <DateTime iso={image.created} />
                    </span>
                    <span className="jp-r2d-row-actions">
                      <button
                        className="jp-Button jp-mod-styled jp-mod-reject"
                        data-action="inspect"
                        aria-label={trans.__('Inspect %1', ref)}
                        onClick={() => props.onInspect(ref)}
                      >
                        {trans.__('Inspect')}
                      </button>
                      <button
                        className="jp-Button jp-mod-styled jp-mod-reject"
                        data-action="menu"
                        aria-label={trans.__('Actions for %1', ref)}
                        aria-haspopup="menu"
                        title={trans.__('Run, push or remove %1', ref)}
                        onClick={e => props.onMenu(ref, e.currentTarget)}
                      >
                        {trans.__('More…')}
                      </button>
                    </span>
                  </li>
                );
              })}
            </ul>
          </li>
        ))}
      </ul>
    </div>
  );
}
