/**
 * Debian's chromium as the browser tests and the README-image script start it: never a
 * downloaded browser; headless, without sandbox (we run as root) and without the background
 * networking this closed machine refuses.
 */

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
