import type { CSSVariablesResolver, MantineColorsTuple, MantineTheme } from '@mantine/core';

/**
 * Colour variables that keep WCAG AA contrast (4.5:1 for text) in both schemes. Mantine's palettes are bright: its
 * light-variant text (a teal "active" badge, a red "Delete" label) reaches only 2.8-3.7:1 on white, white on a
 * filled red or orange button 3-3.7:1, and with a light dark-scheme primary shade the red of Delete turns into
 * near-white. Each colour's text, outline and filled shades are picked here by measuring contrast against the
 * backgrounds they sit on, and darkened (or lightened) past the palette when no shade is enough, so every colour
 * Mantine draws stays readable without a hand-kept table. The browser test's axe colour-contrast check holds it.
 */

/** AA for normal text, with a little margin for anti-aliasing and rounding. */
const minimumContrast = 4.6;

function channels(hex: string): [number, number, number] {
  const value = Number.parseInt(hex.replace('#', ''), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

function toHex([r, g, b]: [number, number, number]): string {
  return `#${[r, g, b].map((channel) => Math.round(channel).toString(16).padStart(2, '0')).join('')}`;
}

/** WCAG 2 relative luminance of a `#rrggbb` colour. */
function luminance(hex: string): number {
  const [r, g, b] = channels(hex).map((channel) => {
    const value = channel / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrastRatio(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

/** `weight` of `color` over `base`, as an opaque colour (what a translucent tint looks like on that base). */
function mix(color: string, base: string, weight: number): string {
  const top = channels(color);
  const bottom = channels(base);
  return toHex([0, 1, 2].map((index) => top[index]! * weight + bottom[index]! * (1 - weight)) as [number, number, number]);
}

/** The first of `candidates` readable on every background; else the last one moved towards `limit` until it is. */
function firstReadable(candidates: readonly string[], backgrounds: readonly string[], limit: string): string {
  const readable = (color: string) => backgrounds.every((background) => contrastRatio(color, background) >= minimumContrast);
  const found = candidates.find(readable);
  if (found) return found;
  const last = candidates[candidates.length - 1]!;
  for (let step = 0.05; step < 1; step += 0.05) {
    const moved = mix(limit, last, step);
    if (readable(moved)) return moved;
  }
  return limit;
}

/** Backgrounds text sits on: the page, cards, inline code and table-row hover, and the colour's own light tint. */
const lightBackgrounds = ['#ffffff', '#f8f9fa', '#f1f3f5'];
const darkBackgrounds = ['#242424', '#1f1f1f', '#2e2e2e'];

function lightSchemeVariables(name: string, shades: MantineColorsTuple): Record<string, string> {
  // Light-variant badges and buttons draw the colour at 10-12% over the card: include that tint.
  const tinted = [...lightBackgrounds, mix(shades[7], '#f1f3f5', 0.12)];
  const text = firstReadable(shades.slice(6), tinted, '#000000');
  // White text on filled buttons and badges; from shade 7, the theme's primary shade for the light scheme.
  const filled = firstReadable(shades.slice(7), ['#ffffff'], '#000000');
  return {
    [`--mantine-color-${name}-text`]: text,
    [`--mantine-color-${name}-light-color`]: text,
    [`--mantine-color-${name}-outline`]: text,
    [`--mantine-color-${name}-filled`]: filled,
    [`--mantine-color-${name}-filled-hover`]: mix('#000000', filled, 0.12),
  };
}

function darkSchemeVariables(name: string, shades: MantineColorsTuple): Record<string, string> {
  const tinted = [...darkBackgrounds, mix(shades[5], '#2e2e2e', 0.2)];
  // From the most saturated readable shade up to the lightest: dark text colours want the strongest hue that reads.
  const text = firstReadable([shades[4], shades[3], shades[2], shades[1], shades[0]], tinted, '#ffffff');
  const filled = firstReadable([shades[6], shades[7], shades[8], shades[9]], ['#ffffff'], '#000000');
  return {
    [`--mantine-color-${name}-text`]: text,
    [`--mantine-color-${name}-light-color`]: text,
    [`--mantine-color-${name}-outline`]: text,
    [`--mantine-color-${name}-filled`]: filled,
    [`--mantine-color-${name}-filled-hover`]: mix('#000000', filled, 0.15),
  };
}

/**
 * Passed to MantineProvider. Besides the per-colour variables: dimmed text (subtitles, card labels, "Live") was gray-6
 * at 3.2:1; the dark scheme's links were harbour-4 at 4.4:1; the focus ring gets its own colour, since the filled
 * blue that suits a button on a dark page is too dark to see as a ring there (2.5:1; non-text needs 3:1).
 */
export const readableColors: CSSVariablesResolver = (theme: MantineTheme) => {
  const light: Record<string, string> = {
    '--mantine-color-dimmed': '#5c636a',
    '--mantine-color-anchor': 'var(--mantine-color-harbour-7)',
    '--mantine-color-error': 'var(--mantine-color-red-text)',
    '--berth-focus-color': 'var(--mantine-color-harbour-7)',
  };
  const dark: Record<string, string> = {
    '--mantine-color-dimmed': '#a6a6a6',
    '--mantine-color-anchor': 'var(--mantine-color-harbour-3)',
    '--mantine-color-error': 'var(--mantine-color-red-text)',
    '--berth-focus-color': 'var(--mantine-color-harbour-3)',
  };
  for (const [name, shades] of Object.entries(theme.colors)) {
    if (name === 'dark' || !shades) continue;
    Object.assign(light, lightSchemeVariables(name, shades));
    Object.assign(dark, darkSchemeVariables(name, shades));
  }
  return { variables: {}, light, dark };
};
