// A node:test reporter that prints only the plain summary line `N passed, N failed` (plus
// `N skipped` when any were skipped, each with its reason, so a skip is never silent).
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  const skipped = [];
  for await (const event of source) {
    if (event.type === 'test:pass') {
      if (event.data.details?.type === 'suite') continue;
      if (event.data.skip !== undefined && event.data.skip !== false) {
        skipped.push(
          `${event.data.name}: ${event.data.skip === true ? 'skipped' : event.data.skip}`,
        );
      } else passed++;
    } else if (event.type === 'test:fail') {
      if (event.data.details?.type === 'suite') continue;
      failed++;
    }
  }
  let out = '';
  for (const s of skipped) out += `skipped: ${s}\n`;
  out += `${passed} passed, ${failed} failed${skipped.length ? `, ${skipped.length} skipped` : ''}\n`;
  yield out;
}
