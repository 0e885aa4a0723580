import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { startDistribution, type DistributionServer } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';
import type { ToolSpec } from '../support/tools.js';
import { firstPage, launchBrowser, type BrowserOptions } from './browser-session.js';

/**
 * A Berth with something on every page, filled the way a user fills it but without the GUI (the GUI story in
 * gui.test.ts does it through the GUI): `berth serve` with its default token auth, two tags pushed by skopeo with a
 * CLI-made token, an upstream (a real docker-registry) and a sync rule that has run once. For the tests that look at
 * every page rather than at one flow.
 */

export const guiTools: ToolSpec[] = ['skopeo', { name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }, 'docker-registry'];

export interface FilledBerth {
  readonly berth: BerthProcess;
  readonly dataDir: string;
  readonly upstream: DistributionServer;
  /** The pushed repository and its tags. */
  readonly repository: string;
  readonly tags: readonly string[];
  readonly ruleName: string;
}

export async function startFilledBerth(t: AfterHook): Promise<FilledBerth> {
  const dataDir = await makeTempDir(t, 'berth-gui-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(async () => {
    await berth.stop();
  });
  const data = ['--data', dataDir];

  const secret = (await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', ...data])).trim().split('\n').pop() ?? '';
  const layouts = await makeTempDir(t, 'berth-gui-images-');
  const repository = 'team/app';
  const tags = ['1.0', '1.1'];
  for (const tag of tags) {
    const image = await createImageLayout(join(layouts, 'app'), { tag, layers: [{ bytes: 16 * 1024, files: 2 }] });
    await skopeoCopy(image.ref, dockerRef(berth.host, repository, tag), ['--dest-creds', `ci:${secret}`]);
  }

  const upstream = await startDistribution({ accessLog: false, logLevel: 'warn' });
  t.after(() => upstream.stop());
  const alpine = await createImageLayout(join(layouts, 'alpine'), { tag: '3.20', layers: [{ bytes: 8 * 1024 }] });
  await skopeoCopy(alpine.ref, dockerRef(upstream.host, 'library/alpine', '3.20'));
  const ruleName = 'alpine';
  await berthCliOk(['upstream', 'add', 'local', upstream.url, ...data]);
  await berthCliOk(['sync', 'add', ruleName, '--upstream', 'local', '--repo', 'library/alpine', ...data]);
  await berthCliOk(['sync', 'run', ruleName, ...data]);
  return { berth, dataDir, upstream, repository, tags, ruleName };
}

/** A fresh browser signed in through a one-time link from `berth ui-url`, on the overview. */
export async function signedInPage(t: AfterHook, berth: BerthProcess, options: BrowserOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await launchBrowser(t, options);
  const page = await firstPage(context);
  await page.goto(await berth.signInUrl());
  await page.waitForURL(/\/ui\/?$/);
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  return { context, page };
}
