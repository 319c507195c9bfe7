// Worker-thread bootstrap: the sources are TypeScript, so register tsx before importing them.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
