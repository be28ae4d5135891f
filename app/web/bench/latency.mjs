// Send click -> visible in the other person's browser: two Chromium
// browsers against a running platform; one sends N messages from the
// composer, one at a time, and the other's page timestamps each as it
// appears (a MutationObserver). Both pages share this machine's clock.
//   HARMONY_URL=http://127.0.0.1:8000 node bench/latency.mjs [N]   (default 100)
import { browser, signUp } from '../e2e/support.mjs';

const N = Number(process.argv[2] ?? 100);
const [first, second] = [await browser(), await browser()];
try {
  const ann = await signUp(first, 'ann');
  const bob = await signUp(second, 'bob');
  await ann.page.getByRole('button', { name: 'New chat' }).click();
  const dialog = ann.page.getByRole('dialog', { name: 'New chat' });
  await dialog.getByLabel('Title').fill('Latency');
  await dialog.getByLabel('Add people by e-mail').fill(bob.email.slice(0, 12));
  await dialog.getByRole('button', { name: `Add ${bob.email}` }).click();
  await dialog.getByRole('button', { name: 'Create chat' }).click();
  await ann.page.getByRole('heading', { name: 'Latency' }).waitFor();
  await bob.page.getByRole('link', { name: 'Latency' }).click();
  await bob.page.getByRole('heading', { name: 'Latency' }).waitFor();
  await bob.page.evaluate(() => {
    window.seen = {};
    new MutationObserver(() => {
      for (const node of document.querySelectorAll('.messages .content')) {
        const match = /^lat-(\d+)$/.exec(node.textContent ?? '');
        if (match && !(match[1] in window.seen)) window.seen[match[1]] = Date.now();
      }
    }).observe(document.querySelector('.messages'), { childList: true, subtree: true });
  });
  const latencies = [];
  for (let n = 1; n <= N; n += 1) {
    const sent = await ann.page.evaluate((text) => {
      const box = document.querySelector('.composer textarea');
      box.value = text;
      const at = Date.now();
      box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
      return at;
    }, `lat-${n}`);
    await bob.page.waitForFunction((k) => k in window.seen, String(n), { polling: 'raf' });
    latencies.push((await bob.page.evaluate((k) => window.seen[k], String(n))) - sent);
  }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)];
  console.log(`send -> visible in the other browser, ${N} messages: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${latencies.at(-1)} ms`);
} finally {
  await first.close();
  await second.close();
}
