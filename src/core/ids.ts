/**
 * Node identifiers. A node id is a short non-empty string (1..255 UTF-8 bytes on the wire),
 * such as "n1". Plain strings keep traces readable and configs simple.
 */
export type NodeId = string;

/** `n1`, `n2`, … `n<count>`: the default names in the simulator and the local cluster. */
export function nodeIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`);
}
