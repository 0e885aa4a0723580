import { AppShell, Badge, Burger, Button, Group, NavLink, Text, Tooltip, UnstyledButton } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useEffect, useState, type ReactNode } from 'react';
import { api } from '../api/client.js';
import { adminRoutes } from '../api/contract.js';
import { closeEvents, onLiveChange } from '../api/events.js';
import { useAppInfo } from '../app-context.js';
import { hrefFor, Link, type PageId, type Route } from '../router.js';
import classes from './app-layout.module.css';
import { BerthLogo } from './berth-logo.js';
import { IconBox, IconHome, IconKey, IconList, IconMirror, IconSettings } from './icons.js';

const navigation: Array<{ page: PageId; label: string; icon: ReactNode }> = [
  { page: 'overview', label: 'Overview', icon: <IconHome /> },
  { page: 'images', label: 'Images', icon: <IconBox /> },
  { page: 'tokens', label: 'Access tokens', icon: <IconKey /> },
  { page: 'mirror', label: 'Mirror', icon: <IconMirror /> },
  { page: 'settings', label: 'Settings', icon: <IconSettings /> },
  { page: 'audit', label: 'Audit', icon: <IconList /> },
];

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

/** Header (brand, live state, sign out), left navigation (a burger on narrow windows), and the page. */
export function AppLayout({ route, children }: { route: Route; children: ReactNode }) {
  const [opened, { toggle, close }] = useDisclosure();
  const { overview } = useAppInfo();
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 232, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="lg">
      <a href="#main" className={classes.skip}>
        Skip to content
      </a>
      <AppShell.Header className={classes.header}>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={opened ? 'Close navigation' : 'Open navigation'} />
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
      <AppShell.Navbar p="sm" aria-label="Main navigation" component="nav">
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
              onClick={close}
              className={classes.navLink}
            />
          ))}
        </div>
      </AppShell.Navbar>
      <AppShell.Main id="main" className={classes.main} tabIndex={-1}>
        <div className={classes.content}>{children}</div>
      </AppShell.Main>
    </AppShell>
  );
}
