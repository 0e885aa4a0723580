import { Center, Stack, Text, ThemeIcon, Title } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * An empty list that teaches the next step instead of just saying "nothing here". `order` is its heading level: 3
 * inside a titled section, 2 right under the page's title (heading levels must not skip one).
 */
export function EmptyState({ icon, title, order = 3, children }: { icon: ReactNode; title: string; order?: 2 | 3; children?: ReactNode }) {
  return (
    <Center py={48} px="md">
      <Stack align="center" gap="sm" maw={560} ta="center">
        <ThemeIcon size={56} radius="xl" variant="light">
          {icon}
        </ThemeIcon>
        <Title order={order} fz="lg">
          {title}
        </Title>
        {typeof children === 'string' ? <Text c="dimmed">{children}</Text> : children}
      </Stack>
    </Center>
  );
}
