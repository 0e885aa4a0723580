import { createTheme, type MantineColorsTuple } from '@mantine/core';

/** A deep harbour blue: calm, readable in both schemes, distinct from Mantine's default blue. */
const harbour: MantineColorsTuple = [
  '#e8f3ff',
  '#d2e3fa',
  '#a4c5f0',
  '#72a5e7',
  '#4989df',
  '#2f78db',
  '#1f6fda',
  '#0f5ec2',
  '#0053ae',
  '#00489a',
];

/** System fonts only: the CSP forbids external fonts, and native text looks right in Electron and browsers. */
export const theme = createTheme({
  primaryColor: 'harbour',
  colors: { harbour },
  primaryShade: { light: 7, dark: 5 },
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "Liberation Sans", Arial, sans-serif',
  fontFamilyMonospace: 'ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace',
  headings: { fontWeight: '650' },
  defaultRadius: 'md',
  focusRing: 'auto',
  cursorType: 'pointer',
  components: {
    Tooltip: { defaultProps: { openDelay: 250 } },
    // Mantine's close buttons are bare icons: without a name a screen reader announces just "button".
    Modal: { defaultProps: { overlayProps: { backgroundOpacity: 0.45, blur: 2 }, closeButtonProps: { 'aria-label': 'Close dialog' } } },
    Drawer: { defaultProps: { closeButtonProps: { 'aria-label': 'Close' } } },
    // A dialog's title bar is a <header> outside <main>, so assistive technology took every open dialog for a second
    // page banner (axe: landmark-no-duplicate-banner). It is only the dialog's heading row.
    ModalHeader: { defaultProps: { role: 'none' } },
    DrawerHeader: { defaultProps: { role: 'none' } },
  },
});
