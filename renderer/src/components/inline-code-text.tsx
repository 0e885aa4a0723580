import { Code } from '@mantine/core';
import { Fragment, type ReactNode } from 'react';

/**
 * Server messages and hints mark commands with backticks ("run `berth ui-url` for a new link"), as the CLI prints
 * them. On screen those become code spans; the backticks themselves never show. An unpaired backtick stays text.
 */
export function InlineCodeText({ text }: { text: string }): ReactNode {
  const parts = text.split('`');
  if (parts.length < 3) return text;
  // Even indexes are prose, odd ones code; an odd count of backticks leaves the last piece as prose.
  const paired = parts.length % 2 === 1 ? parts : [...parts.slice(0, -2), `${parts[parts.length - 2]}\`${parts[parts.length - 1]}`];
  return paired.map((part, index) =>
    index % 2 === 1 ? (
      <Code key={index} fz="0.95em">
        {part}
      </Code>
    ) : (
      <Fragment key={index}>{part}</Fragment>
    ),
  );
}
