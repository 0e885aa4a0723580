#!/usr/bin/env node
// Renders build/*.svg to the PNGs electron-builder and the tray use (run after editing an SVG; the PNGs are
// committed). Uses the system Chromium through playwright-core: transparent background, exact pixel sizes.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const build = fileURLToPath(new URL('../build/', import.meta.url));
const outputs = [
  { svg: 'icon.svg', png: 'icon.png', size: 512 },
  { svg: 'tray.svg', png: 'tray.png', size: 16 },
  { svg: 'tray.svg', png: 'tray@2x.png', size: 32 },
  { svg: 'trayTemplate.svg', png: 'trayTemplate.png', size: 16 },
  { svg: 'trayTemplate.svg', png: 'trayTemplate@2x.png', size: 32 },
];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
try {
  const page = await browser.newPage();
  for (const { svg, png, size } of outputs) {
    const markup = await readFile(`${build}${svg}`, 'utf8');
    await page.setViewportSize({ width: size, height: size });
    const sized = markup.replace('<svg ', `<svg width="${size}" height="${size}" `);
    await page.setContent(`<html><body style="margin:0;background:transparent">${sized}</body></html>`);
    await page.locator('svg').screenshot({ path: `${build}${png}`, omitBackground: true });
    console.log(`build/${png} (${size}x${size})`);
  }
} finally {
  await browser.close();
}
