import { AppShell, Badge, Burger, Button, Drawer, Group, NavLink, Stack, Text, Tooltip, UnstyledButton } from '@mantine/core';
import { useDisclosure, useMediaQuery } from '@mantine/hooks';
import { useEffect, useState, type ReactNode } from 'react';
import { api } from '../api/client.js';
import { adminRoutes } from '../api/contract.js';
import { closeEvents, onLiveChange } from '../api/events.js';
import { useAppInfo } from '../app-context.js';
import { hrefFor, Link, type PageId, type Route } from '../router.js';
import classes from './app-layout.module.css';
import { BerthLogo } from './berth-logo.js';
import { ConnectionNotice } from './connection-notice.js';
import { IconBox, IconHome, IconKey, IconList, IconMirror, IconSettings, IconTrash } from './icons.js';
import { ThemeToggle } from './theme-toggle.js';

const navigation: Array<{ page: PageId; label: string; icon: ReactNode }> = [
  { page: 'overview', label: 'Overview', icon: <IconHome /> },
  { page: 'images', label: 'Images', icon: <IconBox /> },
  { page: 'tokens', label: 'Access tokens', icon: <IconKey /> },
  { page: 'mirror', label: 'Mirror', icon: <IconMirror /> },
  { page: 'settings', label: 'Settings', icon: <IconSettings /> },
  { page: 'audit', label: 'Audit', icon: <IconList /> },
  { page: 'trash', label: 'Trash', icon: <IconTrash /> },
];

/**
 * Below this width the sidebar would leave tables too little room (at 800 px it took 230 of them): the navigation
 * moves into a drawer behind the header's menu button.
 */
const sidebarQuery = '(min-width: 1000px)';

function LiveIndicator() {
  const [live, setLive] = useState(false);
  useEffect(() => onLiveChange(setLive), []);
  const label = live ? 'Live updates on' : 'Live updates reconnecting…';
  return (
    <Tooltip label={live ? 'Changes appear here as they happen' : 'The live event stream is reconnecting'}>
      <Group gap={6} wrap="nowrap" role="status" aria-label={label}>
        <span className={live ? classes.dotLive : classes.dotOff} aria-hidden="true" />
        <Text size="xs" c="dimmed" visibleFrom="sm">
          {live ? 'Live' : 'Reconnecting'}
        </Text>
      </Group>
    </Tooltip>
  );
}

async function signOut(): Promise<void> {
  try {
    await api.post(adminRoutes.signOut);
  } finally {
    closeEvents();
    window.location.reload();
  }
}

/** The page links and the theme choice: the sidebar's content on wide windows, the drawer's on narrow ones. */
function Navigation({ route, onNavigate }: { route: Route; onNavigate?: () => void }) {
  return (
    <Stack justify="space-between" h="100%" gap="lg">
      <div className={classes.navList}>
        {navigation.map((item) => (
          <NavLink
            key={item.page}
            component={Link}
            href={hrefFor(item.page)}
            label={item.label}
            leftSection={item.icon}
            active={route.page === item.page}
            aria-current={route.page === item.page ? 'page' : undefined}
            onClick={onNavigate}
            className={classes.navLink}
          />
        ))}
      </div>
      <div className={classes.navFooter}>
        <ThemeToggle />
      </div>
    </Stack>
  );
}

/** Header (brand, live state, sign out), the navigation (a sidebar, or a drawer under 1000 px), and the page. */
export function AppLayout({ route, children }: { route: Route; children: ReactNode }) {
  const wide = useMediaQuery(sidebarQuery, true, { getInitialValueInEffect: false });
  const [opened, { toggle, close }] = useDisclosure();
  const { overview } = useAppInfo();
  // A drawer left open while the window grows past the breakpoint would cover the sidebar that replaces it.
  useEffect(() => {
    if (wide) close();
  }, [wide, close]);
  return (
    // The layout switches on `wide` (one media query, above), so AppShell's own mobile breakpoint is never used.
    <AppShell header={{ height: 56 }} navbar={wide ? { width: 232, breakpoint: 0 } : undefined} padding="lg">
      <a href="#main" className={classes.skip}>
        Skip to content
      </a>
      <AppShell.Header className={classes.header}>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            {!wide && (
              <Burger
                opened={opened}
                onClick={toggle}
                size="sm"
                aria-label="Open navigation"
                aria-expanded={opened}
              />
            )}
            <UnstyledButton component={Link} href={hrefFor('overview')} className={classes.brand} aria-label="Berth home">
              <BerthLogo size={28} />
              <Text fw={700} fz="lg">
                Berth
              </Text>
            </UnstyledButton>
            {overview?.version && (
              <Badge variant="light" color="gray" size="sm" visibleFrom="xs" tt="none">
                v{overview.version}
              </Badge>
            )}
          </Group>
          <Group gap="md" wrap="nowrap">
            <LiveIndicator />
            <Button variant="subtle" color="gray" size="xs" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      {wide ? (
        <AppShell.Navbar p="sm" aria-label="Main navigation" component="nav">
          <Navigation route={route} />
        </AppShell.Navbar>
      ) : (
        <Drawer
          opened={opened}
          onClose={close}
          size={264}
          padding="sm"
          title={
            <Group gap="xs" wrap="nowrap" px={4}>
              <BerthLogo size={24} />
              <Text fw={700}>Berth</Text>
            </Group>
          }
          closeButtonProps={{ 'aria-label': 'Close navigation' }}
        >
          <nav aria-label="Main navigation" className={classes.drawerNav}>
            <Navigation route={route} onNavigate={close} />
          </nav>
        </Drawer>
      )}
      <AppShell.Main id="main" className={classes.main} tabIndex={-1}>
        <div className={classes.content}>
          <ConnectionNotice />
          {children}
        </div>
      </AppShell.Main>
    </AppShell>
  );
}
