// After tsc -p playground: put the panel's stylesheet beside its script.
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
copyFileSync(join(here, 'panel.css'), join(here, '..', '..', '..', 'internal', 'playground', 'assets', 'authgate', 'playground', 'panel.css'));
