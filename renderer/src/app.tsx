import { Center, Loader } from '@mantine/core';
import { useEffect, useMemo, useState } from 'react';
import { api, onSignInRequired, type ApiError } from './api/client.js';
import { adminRoutes, type OverviewResponse } from './api/contract.js';
import { closeEvents } from './api/events.js';
import { useResource } from './api/use-resource.js';
import { AppInfoContext, registryHostOf } from './app-context.js';
import { AppLayout } from './components/app-layout.js';
import { LoadError } from './components/error-alert.js';
import { SignInScreen } from './components/sign-in-screen.js';
import { AuditPage } from './pages/audit-page.js';
import { ImagesPage } from './pages/images-page.js';
import { MirrorPage } from './pages/mirror-page.js';
import { NotFoundPage } from './pages/not-found-page.js';
import { OverviewPage } from './pages/overview-page.js';
import { SettingsPage } from './pages/settings-page.js';
import { TokensPage } from './pages/tokens-page.js';
import { TrashPage } from './pages/trash-page.js';
import { useRoute, type Route } from './router.js';

function CurrentPage({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <OverviewPage />;
    case 'images':
      return <ImagesPage route={route} />;
    case 'tokens':
      return <TokensPage />;
    case 'mirror':
      return <MirrorPage route={route} />;
    case 'settings':
      return <SettingsPage />;
    case 'audit':
      return <AuditPage route={route} />;
    case 'trash':
      return <TrashPage />;
    default:
      return <NotFoundPage />;
  }
}

/**
 * Loads the overview once (it tells us we are signed in and which host clients use), then shows the shell.
 * Any 401 from any request swaps the whole app for the sign-in screen.
 */
export function App() {
  const route = useRoute();
  const [signIn, setSignIn] = useState<ApiError>();
  const overview = useResource((signal) => api.get<OverviewResponse>(adminRoutes.overview, undefined, signal), 'overview');

  useEffect(
    () =>
      onSignInRequired((error) => {
        closeEvents();
        setSignIn(error);
      }),
    [],
  );

  const info = useMemo(
    () => ({ overview: overview.data, registryHost: registryHostOf(overview.data), reloadOverview: overview.reload }),
    [overview.data, overview.reload],
  );

  if (signIn) return <SignInScreen error={signIn} />;
  if (overview.loading && !overview.data) {
    return (
      <Center h="100vh">
        <Loader aria-label="Loading Berth" />
      </Center>
    );
  }
  return (
    <AppInfoContext.Provider value={info}>
      <AppLayout route={route}>
        {overview.error !== undefined && !overview.data ? (
          <LoadError error={overview.error} onRetry={overview.reload} title="Berth’s admin API did not answer" />
        ) : (
          <CurrentPage route={route} />
        )}
      </AppLayout>
    </AppInfoContext.Provider>
  );
}
