import { useEffect, useRef, useState } from 'react';

/**
 * Whether an element's content is wider than the element (it scrolls sideways), kept current as either resizes. An
 * element that scrolls needs keyboard focus, or keyboard users cannot reach what is cut off (axe:
 * scrollable-region-focusable); `scrollableProps` gives it that, with a name, only while it scrolls.
 */
export function useScrollsSideways<T extends HTMLElement>(label: string) {
  const ref = useRef<T>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const measure = () => setScrolls(element.scrollWidth > element.clientWidth + 1);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    for (const child of element.children) observer.observe(child);
    return () => observer.disconnect();
  }, []);
  const scrollableProps = scrolls
    ? { tabIndex: 0, role: 'region', 'aria-label': `${label} (scrolls sideways)`, 'data-berth-focus-frame': '' }
    : {};
  return { ref, scrollableProps };
}
