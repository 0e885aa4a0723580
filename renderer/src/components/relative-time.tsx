import { useEffect, useState } from 'react';
import { formatExact, formatRelative } from '../format.js';

const ticks = new Set<(value: number) => void>();
let timer: number | undefined;

/** One shared 30-second clock, so "3 minutes ago" stays true without a timer per cell. */
function useNow(): number {
  const [, setValue] = useState(0);
  useEffect(() => {
    ticks.add(setValue);
    if (timer === undefined) {
      timer = window.setInterval(() => {
        const now = Date.now();
        for (const tick of ticks) tick(now);
      }, 30_000);
    }
    return () => {
      ticks.delete(setValue);
      if (ticks.size === 0 && timer !== undefined) {
        window.clearInterval(timer);
        timer = undefined;
      }
    };
  }, []);
  // The tick only forces a re-render; the time itself is read fresh so a new row is never "in 20 seconds".
  return Date.now();
}

/** "3 minutes ago", with the exact local time as a tooltip and in the machine-readable `dateTime`. */
export function RelativeTime({ value, fallback = '—' }: { value: string | null | undefined; fallback?: string }) {
  const current = useNow();
  if (!value) return <span>{fallback}</span>;
  return (
    <time dateTime={value} title={formatExact(value)}>
      {formatRelative(value, current)}
    </time>
  );
}
