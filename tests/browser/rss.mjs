// Memory of Chromium's renderer processes, read from /proc (Linux): shared by e2e.mjs and
// memory.mjs.
import { readdirSync, readFileSync } from 'node:fs';

/** RSS in bytes of the largest Chromium renderer process (the page and its workers); 0 where it
 * cannot be read. */
export function rendererRss() {
  let largest = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('--type=renderer')) continue;
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
      if (kb) largest = Math.max(largest, Number(kb[1]) * 1024);
    } catch {} // the process ended meanwhile
  }
  return largest;
}
