import { Group, Paper, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';

/** A titled panel. The title is an h2 so screen-reader users can jump between sections. */
export function SectionCard({ title, description, actions, children, padding = 'lg' }: {
  title: string;
  description?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  padding?: string | number;
}) {
  return (
    <Paper withBorder radius="lg" p={padding} component="section" aria-label={title}>
      <Group justify="space-between" align="flex-start" mb="md" wrap="wrap" gap="sm">
        <div>
          <Title order={2} fz="lg">
            {title}
          </Title>
          {description && (
            <Text size="sm" c="dimmed" mt={2}>
              {description}
            </Text>
          )}
        </div>
        {actions && <Group gap="xs">{actions}</Group>}
      </Group>
      {children}
    </Paper>
  );
}
