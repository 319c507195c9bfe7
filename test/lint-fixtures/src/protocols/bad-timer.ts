// Lint fixture (test/lint.test.ts): schedules its own timer, which protocol code must not do.
export function retransmitLater(resend: () => void, delayMs: number): void {
  setTimeout(resend, delayMs);
}
