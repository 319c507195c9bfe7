// Commit-thread bootstrap (see async-storage.ts): the sources are TypeScript, so register tsx
// before importing them.
import { register } from 'tsx/esm/api';

register();
await import('./storage-worker.ts');
