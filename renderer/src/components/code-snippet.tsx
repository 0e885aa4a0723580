import { Box, Group, Text } from '@mantine/core';
import { CopyIconButton } from './copy-button.js';
import classes from './code-snippet.module.css';
import { useScrollsSideways } from './use-scrolls-sideways.js';

/** A copy-paste block: monospace, scrolls sideways rather than wrapping commands, one copy button. */
export function CodeSnippet({ code, label, copyLabel }: { code: string; label?: string; copyLabel?: string }) {
  const { ref, scrollableProps } = useScrollsSideways<HTMLPreElement>(label ? `${label} code` : 'Code');
  return (
    <Box className={classes.snippet}>
      {label && (
        <Group justify="space-between" className={classes.header}>
          <Text size="xs" fw={600} c="dimmed" tt="uppercase">
            {label}
          </Text>
        </Group>
      )}
      <Group wrap="nowrap" align="flex-start" gap={0}>
        <pre ref={ref} className={classes.code} {...scrollableProps}>
          <code>{code}</code>
        </pre>
        <Box p={6}>
          <CopyIconButton value={code} label={copyLabel ?? (label ? `Copy ${label}` : 'Copy')} />
        </Box>
      </Group>
    </Box>
  );
}

/** One line of code inline with a copy button, e.g. a pull command in a table. */
export function InlineCode({ code, copyLabel }: { code: string; copyLabel: string }) {
  return (
    <Group gap={4} wrap="nowrap" className={classes.inline}>
      <code className={classes.inlineCode}>{code}</code>
      <CopyIconButton value={code} label={copyLabel} />
    </Group>
  );
}
