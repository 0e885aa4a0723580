import { Box, Group, Paper, Text, ThemeIcon } from '@mantine/core';
import type { ReactNode } from 'react';

export interface StatCardProps {
  label: string;
  value: ReactNode;
  detail?: ReactNode;
  icon: ReactNode;
  color?: string;
  /** A button under the detail (block content, so it cannot go inside the detail's paragraph). */
  action?: ReactNode;
}

/** One number with a label and a small explanation, for the overview's top row. */
export function StatCard({ label, value, detail, icon, color, action }: StatCardProps) {
  return (
    <Paper withBorder p="md" radius="lg">
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <div>
          <Text size="xs" c="dimmed" tt="uppercase" fw={600} lts={0.4}>
            {label}
          </Text>
          <Text fz={26} fw={700} mt={4} className="berth-nums">
            {value}
          </Text>
        </div>
        <ThemeIcon variant="light" size={40} radius="md" color={color}>
          {icon}
        </ThemeIcon>
      </Group>
      {detail && (
        <Text size="sm" c="dimmed" mt={6}>
          {detail}
        </Text>
      )}
      {action && <Box mt="xs">{action}</Box>}
    </Paper>
  );
}
