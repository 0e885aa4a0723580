import type { Mount, MountHandler } from '../http/request-router.js';
import { sendAdminRefusal } from './admin-error.js';
import { adminRoutes } from './contract.js';
import type { AdminDeps } from './deps.js';

/**
 * The admin API's mounts, with the API itself (express and every route) loaded on its first request.
 *
 * Why: express and the routes are about 14 MiB of a server's idle memory, and a registry that only clients use
 * (docker, CI, a headless node) never needs them. The GUI's first request pays the load once (tens of ms).
 * The mounts' prefixes and refusal writer are known without loading anything, so routing is unchanged.
 */
export function createDeferredAdminApi(deps: AdminDeps): Mount[] {
  let loading: Promise<MountHandler> | undefined;
  const load = (): Promise<MountHandler> =>
    (loading ??= import('./index.js').then(({ createAdminApi }) => {
      const [api] = createAdminApi({ ...deps, startedAt: deps.startedAt ?? Date.now() });
      if (!api) throw new Error("the admin API has no mounts");
      return api.handle;
    }));
  const handle: MountHandler = async (req, res, pathname, search) => (await load())(req, res, pathname, search);
  return [
    { prefix: '/api', handle, refuse: sendAdminRefusal },
    { prefix: adminRoutes.signIn, handle, refuse: sendAdminRefusal },
  ];
}
