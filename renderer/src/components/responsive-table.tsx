import type { ReactNode } from 'react';
import classes from './responsive-table.module.css';
import { useScrollsSideways } from './use-scrolls-sideways.js';

/**
 * Class names for cells (header and body alike) of columns that give way on narrow tables: `low` goes first (below
 * 760 px of table width), `medium` next (below 560 px). Unmarked columns, and always the one with a row's actions or
 * outcome, stay. Whatever a hidden column showed must also be reachable elsewhere (a detail view, a tooltip).
 */
export const columnPriority = { low: classes.low, medium: classes.medium } as const;

/**
 * The frame around every table. It scrolls sideways only when even the remaining columns do not fit, and then it
 * takes keyboard focus (with a name), so keyboard users can scroll it too.
 */
export function ResponsiveTable({ label, children }: { label: string; children: ReactNode }) {
  const { ref, scrollableProps } = useScrollsSideways<HTMLDivElement>(label);
  return (
    <div ref={ref} className={classes.frame} {...scrollableProps}>
      {children}
    </div>
  );
}
