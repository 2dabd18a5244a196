#!/usr/bin/env node
// pyrmq interop driver for the Node.js RocketMQ client ali-ons (npm ali-ons, pinned in
// package-lock.json). Talks to an open-source NameServer through ali-ons' `nameSrv` option.
//
// Subcommands (every observation is one JSON object on one stdout line; ali-ons' own logging
// goes to stderr; every wait is bounded and a timeout exits non-zero):
//
//   produce --namesrv HOST:PORT --topic T --count N [--group G] [--tags A,B] [--prefix P]
//           [--timeout S]
//     sends N messages, body "<prefix>-<i>", tag tags[i % len], key "key-<prefix>-<i>", user
//     property "idx" = i; prints {"event":"sent", ...} per message (msgId, queueId, queueOffset,
//     brokerName, status), then {"event":"done"}.
//
//   consume --namesrv HOST:PORT --topic T --group G --expect N [--tag EXPR | --sql EXPR]
//           [--timeout S] [--settle MS] [--from first|last] [--retry-once yes]
//     subscribes with a tag expression (default "*") or a SQL92 expression; push-consumes
//     until N messages arrived, waits --settle ms more for anything extra (duplicates), then
//     shuts down (committing offsets). Prints {"event":"received", ...} per message (body,
//     tags, keys, properties, queueId, queueOffset, msgId, topic, reconsumeTimes),
//     {"event":"pulled", ...} per PULL_MESSAGE answer that carried messages (their tags, as the
//     broker sent them, before ali-ons' own client-side tag check), {"event":"error", ...} for
//     every error ali-ons emits, and {"event":"done", "received": n}.
//     With --retry-once yes the handler answers ACTION_RETRY to every first delivery
//     (reconsumeTimes 0), so ali-ons sends it back (CONSUMER_SEND_MSG_BACK) and the broker
//     redelivers it through %RETRY%<group>; such deliveries are reported with "retried": true
//     and only accepted deliveries count towards N.
//     Exit 0 on success, 2 on timeout, 1 on any other failure.
'use strict';

const { Producer, Consumer, Message } = require('ali-ons');

const DUMMY_ACCESS_KEY = 'pyrmq-interop-ak'; // ali-ons signs every request; an open-source
const DUMMY_SECRET_KEY = 'pyrmq-interop-sk'; // broker without ACL ignores the signature.

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument: ${arg}`);
    }
    const name = arg.slice(2);
    if (i + 1 >= argv.length) {
      throw new Error(`missing value for ${arg}`);
    }
    out[name] = argv[++i];
  }
  return out;
}

function need(args, name) {
  if (args[name] === undefined || args[name] === '') {
    throw new Error(`--${name} is required`);
  }
  return args[name];
}

// ali-ons logs info/debug through this object; keep everything off stdout.
const verbose = process.env.PYRMQ_NODE_VERBOSE === '1';
function stderrLine(level, args) {
  const text = args.map(a => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a)));
  process.stderr.write(`[ali-ons ${level}] ${text.join(' ')}\n`);
}
const logger = {
  debug(...args) { if (verbose) stderrLine('debug', args); },
  info(...args) { if (verbose) stderrLine('info', args); },
  warn(...args) { stderrLine('warn', args); },
  error(...args) { stderrLine('error', args); },
};

// ali-ons asserts an HTTP client is present even when `nameSrv` is given; it is used only to
// look the NameServer up from `onsAddr`, which never happens with `nameSrv` set.
const noHttp = {
  async request(url) {
    throw new Error(`unexpected HTTP lookup of ${url}: nameSrv is set`);
  },
};

function clientOptions(args) {
  return {
    nameSrv: need(args, 'namesrv'),
    httpclient: noHttp,
    accessKeyId: DUMMY_ACCESS_KEY,
    accessKeySecret: DUMMY_SECRET_KEY,
    logger,
    clientIP: '127.0.0.1',
  };
}

function errorEvent(err) {
  return {
    event: 'error',
    name: err && err.name,
    code: err && err.code,
    message: err && String(err.message),
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`timed out after ${ms} ms: ${what}`);
      err.name = 'DriverTimeout';
      reject(err);
    }, ms);
  });
  return Promise.race([ promise, guard ]).finally(() => clearTimeout(timer));
}

async function produce(args) {
  const topic = need(args, 'topic');
  const count = Number(need(args, 'count'));
  const group = args.group || `ons_${topic}_producer`;
  const tags = (args.tags || 'TagA').split(',');
  const prefix = args.prefix || topic;
  const timeoutMs = Number(args.timeout || 30) * 1000;
  const deadline = Date.now() + timeoutMs;

  const producer = new Producer(Object.assign(clientOptions(args), { producerGroup: group }));
  producer.on('error', err => emit(errorEvent(err)));
  await withTimeout(producer.ready(), timeoutMs, 'producer start');
  for (let i = 0; i < count; i++) {
    const msg = new Message(topic, tags[i % tags.length], `${prefix}-${i}`);
    msg.keys = [ `key-${prefix}-${i}` ];
    msg.properties.idx = String(i); // a user property: ali-ons sends every entry of properties
    const result = await withTimeout(producer.send(msg), Math.max(1, deadline - Date.now()), `send #${i}`);
    emit({
      event: 'sent',
      index: i,
      body: `${prefix}-${i}`,
      tags: tags[i % tags.length],
      keys: `key-${prefix}-${i}`,
      msgId: result.msgId,
      queueId: Number(result.messageQueue.queueId),
      brokerName: result.messageQueue.brokerName,
      queueOffset: result.queueOffset,
      status: result.sendStatus,
    });
  }
  await withTimeout(producer.close(), 10000, 'producer close');
  emit({ event: 'done', sent: count });
}

async function consume(args) {
  const topic = need(args, 'topic');
  const group = need(args, 'group');
  const expect = Number(need(args, 'expect'));
  if (args.tag !== undefined && args.sql !== undefined) {
    throw new Error('--tag and --sql exclude each other');
  }
  const expression = args.sql !== undefined ?
    { expressionType: 'SQL92', subString: args.sql } : (args.tag || '*');
  const timeoutMs = Number(args.timeout || 30) * 1000;
  const settleMs = Number(args.settle || 1000);
  const options = Object.assign(clientOptions(args), { consumerGroup: group });
  if (args.from === 'first') {
    options.consumeFromWhere = 'CONSUME_FROM_FIRST_OFFSET';
  } else if (args.from === 'last') {
    options.consumeFromWhere = 'CONSUME_FROM_LAST_OFFSET';
  } else if (args.from !== undefined) {
    throw new Error(`--from must be first or last, not ${args.from}`);
  }

  const consumer = new Consumer(options);
  consumer.on('error', err => emit(errorEvent(err)));

  // What each PULL_MESSAGE answer carried, before ali-ons' own client-side tag check.
  const mqClient = consumer._mqClient;
  const pullMessage = mqClient.pullMessage.bind(mqClient);
  mqClient.pullMessage = async (brokerAddr, requestHeader, timeoutMillis) => {
    const result = await pullMessage(brokerAddr, requestHeader, timeoutMillis);
    if (requestHeader.topic === topic && result && result.msgFoundList && result.msgFoundList.length) {
      emit({
        event: 'pulled',
        queueId: requestHeader.queueId,
        queueOffset: requestHeader.queueOffset,
        tags: result.msgFoundList.map(m => m.tags),
      });
    }
    return result;
  };

  let received = 0;
  let reached;
  const enough = new Promise(resolve => { reached = resolve; });
  const retryOnce = args['retry-once'] === 'yes';
  consumer.subscribe(topic, expression, async msg => {
    const properties = Object.assign({}, msg.properties);
    const retried = retryOnce && msg.reconsumeTimes === 0;
    emit({
      event: 'received',
      topic: msg.topic,
      body: msg.body ? msg.body.toString('utf8') : '',
      tags: msg.tags,
      keys: msg.keys,
      properties,
      queueId: msg.queueId,
      queueOffset: msg.queueOffset,
      msgId: msg.msgId,
      reconsumeTimes: msg.reconsumeTimes,
      retried,
    });
    if (retried) {
      return Consumer.ACTION_RETRY;
    }
    received++;
    if (received >= expect) {
      reached();
    }
  });

  let code = 0;
  try {
    await withTimeout(consumer.ready(), timeoutMs, 'consumer start');
    await withTimeout(enough, timeoutMs, `${expect} accepted messages`);
    await new Promise(resolve => setTimeout(resolve, settleMs));
  } catch (err) {
    emit(Object.assign(errorEvent(err), { received }));
    code = err.name === 'DriverTimeout' ? 2 : 1;
  }
  try {
    await withTimeout(consumer.close(), 10000, 'consumer close');
  } catch (err) {
    emit(errorEvent(err));
    code = code || 1;
  }
  emit({ event: 'done', received });
  return code;
}

async function main() {
  const [ command, ...rest ] = process.argv.slice(2);
  const args = parseArgs(rest);
  switch (command) {
    case 'produce':
      await produce(args);
      return 0;
    case 'consume':
      return await consume(args);
    default:
      throw new Error(`usage: driver.js produce|consume --namesrv HOST:PORT ... (got ${command})`);
  }
}

main().then(
  code => process.exit(code),
  err => {
    emit(errorEvent(err));
    process.stderr.write(`${err && err.stack}\n`);
    process.exit(err && err.name === 'DriverTimeout' ? 2 : 1);
  }
);
