// Debian's headless Chromium (playwright-core) with every request logged and any request to a host
// other than 127.0.0.1 aborted and reported: the drivers of the browser tests start from here.
import { chromium } from 'playwright-core';

/** Launch Chromium and open a page; `result` gains requests, outside, failed and console_errors.
 * `intercept(route, url)` may answer a loopback request itself (return true when it did). */
export async function openPage(spec, result, intercept = async () => false) {
  Object.assign(result, { requests: [], outside: [], failed: [], console_errors: [] });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  const page = await browser.newPage({ viewport: spec.viewport ?? { width: 1280, height: 800 } });
  page.setDefaultTimeout(spec.timeout_ms ?? 90000);
  await page.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    result.requests.push(url.href);
    if (url.protocol !== 'data:' && url.protocol !== 'blob:' && url.hostname !== '127.0.0.1') {
      result.outside.push(url.href);
      return route.abort();
    }
    if (await intercept(route, url)) return undefined;
    return route.continue();
  });
  page.on('requestfailed', (r) => result.failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('console', (m) => m.type() === 'error' && result.console_errors.push(m.text()));
  page.on('pageerror', (e) => result.console_errors.push(String(e)));
  return { browser, page };
}

/** Log in through the viewer's dialog as [username, password]; resolves once the dialog has closed. */
export async function logIn(page, [username, password]) {
  await page.click('#login-button');
  await page.fill('#login-dialog input[name=username]', username);
  await page.fill('#login-dialog input[name=password]', password);
  await page.click('#login-dialog button[value=ok]');
  await page.locator('#login-dialog').waitFor({ state: 'hidden' });
}

/** Run the named steps one after the other (a failed step reports its error, the rest still run)
 * and print the result as one JSON object. */
export async function runSteps(browser, steps, names, result, onError = async () => null) {
  try {
    for (const name of names) {
      try {
        result.steps[name] = await steps[name]();
      } catch (exc) {
        result.steps[name] = { error: String(exc?.stack ?? exc) };
        await onError(name).catch(() => null);
      }
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result));
}
