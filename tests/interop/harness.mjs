// The pass/fail runner shared by the grpc-js scripts: runs [name, async fn] cases in order, prints one line per case
// (with the stack of a failure) and returns the counts; the caller prints "N passed, M failed" after closing its clients.
export async function runCases(cases) {
  let passed = 0;
  let failed = 0;
  for (const [name, run] of cases) {
    try {
      await run();
      passed++;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}\n     ${String((err && err.stack) || err).split('\n').join('\n     ')}`);
    }
  }
  return { passed, failed };
}
