import './registry.ts';
