// Starts telegram-test-api (npm, v4.2.1) on loopback for the interop test.
//
//   npm install telegram-test-api@4.2.1
//   node telegram/testdata/tg-emulator.js            # listens on 127.0.0.1:9000
//   LIQBOX_TELEGRAM_TEST_API=http://127.0.0.1:9000 go test -run Interop ./telegram/
//
// PORT and HOST override the address. The script resolves the package from
// the working directory's node_modules (or NODE_PATH), so run it from where
// npm installed it or set NODE_PATH.
'use strict';

const path = require('path');
const { createRequire } = require('module');

function load() {
  try {
    return createRequire(path.join(process.cwd(), 'noop.js'))('telegram-test-api');
  } catch (e) {
    return require('telegram-test-api');
  }
}

const mod = load();
const TelegramServer = mod.default || mod.TelegramServer || mod;
const port = Number(process.env.PORT || 9000);
const host = process.env.HOST || '127.0.0.1';
const server = new TelegramServer({ port, host, storeTimeout: 600 });

server.start().then(() => {
  console.log(`telegram-test-api listening on http://${host}:${port}`);
}, (err) => {
  console.error(`cannot start telegram-test-api: ${err}`);
  process.exit(1);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.stop().then(() => process.exit(0)));
}
