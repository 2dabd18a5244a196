package pyrmq.interop;

import com.alibaba.fastjson.JSON;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.admin.ConsumeStats;
import org.apache.rocketmq.common.admin.OffsetWrapper;
import org.apache.rocketmq.common.admin.TopicOffset;
import org.apache.rocketmq.common.admin.TopicStatsTable;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.common.protocol.body.ClusterInfo;
import org.apache.rocketmq.common.protocol.body.TopicList;
import org.apache.rocketmq.common.protocol.heartbeat.MessageModel;
import org.apache.rocketmq.common.protocol.route.BrokerData;
import org.apache.rocketmq.common.protocol.route.QueueData;
import org.apache.rocketmq.common.protocol.route.TopicRouteData;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

/**
 * Drives Apache RocketMQ's own Java client (4.9.7) against a NameServer given on the command
 * line, one scenario per run, and prints what it observed as JSON lines on stdout: the pytest
 * side (tests/interop/test_java_client.py) asserts on them. Every wait is bounded; a scenario
 * that runs out of time prints {"event":"timeout"} and exits with status 2.
 */
public final class Driver {
    private Driver() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Driver <scenario> <namesrv> [args...]");
            System.exit(64);
        }
        String ns = args[1];
        String[] rest = java.util.Arrays.copyOfRange(args, 2, args.length);
        boolean ok;
        switch (args[0]) {
            case "send": ok = send(ns, rest[0], rest[1], Integer.parseInt(rest[2])); break;
            case "consume": ok = consume(ns, rest); break;
            case "orderly": ok = orderly(ns, rest); break;
            case "broadcast": ok = broadcast(ns, rest); break;
            case "delay": ok = delay(ns, rest); break;
            case "transaction": ok = transaction(ns, rest); break;
            case "dlq": ok = dlq(ns, rest); break;
            case "query": ok = query(ns, rest); break;
            case "litepull": ok = litePull(ns, rest); break;
            case "admin": ok = admin(ns, rest); break;
            case "progress": ok = progress(ns, rest); break;
            case "failover": ok = failover(ns, rest); break;
            default:
                System.err.println("unknown scenario " + args[0]);
                System.exit(64);
                return;
        }
        System.out.flush();
        System.exit(ok ? 0 : 2);
    }

    // ------------------------------------------------------------------ output

    private static synchronized void emit(Object... keyValues) {
        Map<String, Object> line = new LinkedHashMap<>();
        for (int i = 0; i + 1 < keyValues.length; i += 2) {
            line.put((String) keyValues[i], keyValues[i + 1]);
        }
        System.out.println(JSON.toJSONString(line));
        System.out.flush();
    }

    private static void emitSent(int i, SendResult r) {
        emit("event", "sent", "i", i, "status", r.getSendStatus().name(), "msgId", r.getMsgId(),
            "offsetMsgId", r.getOffsetMsgId(), "queueId", r.getMessageQueue().getQueueId(),
            "broker", r.getMessageQueue().getBrokerName(), "queueOffset", r.getQueueOffset());
    }

    private static void emitMessage(String event, MessageExt m) {
        emit("event", event, "topic", m.getTopic(), "body", new String(m.getBody(), StandardCharsets.UTF_8),
            "tags", m.getTags(), "keys", m.getKeys(), "props", m.getProperties(),
            "queueId", m.getQueueId(), "queueOffset", m.getQueueOffset(), "msgId", m.getMsgId(),
            "offsetMsgId", m.getProperty("__offsetMsgId") == null ? null : m.getProperty("__offsetMsgId"),
            "reconsumeTimes", m.getReconsumeTimes(), "bornTimestamp", m.getBornTimestamp(),
            "storeTimestamp", m.getStoreTimestamp(), "now", System.currentTimeMillis());
    }

    private static boolean timeout(String what) {
        emit("event", "timeout", "what", what);
        return false;
    }

    // ------------------------------------------------------------------ clients

    private static DefaultMQProducer producer(String ns, String group) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(group);
        p.setNamesrvAddr(ns);
        p.setInstanceName(group + "-" + System.nanoTime());
        p.setSendMsgTimeout(10000);
        p.start();
        return p;
    }

    private static DefaultMQPushConsumer pushConsumer(String ns, String group, String instance) {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(ns);
        c.setInstanceName(instance);
        c.setConsumeFromWhere(org.apache.rocketmq.common.consumer.ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        return c;
    }

    private static DefaultMQAdminExt adminExt(String ns) throws Exception {
        DefaultMQAdminExt a = new DefaultMQAdminExt();
        a.setNamesrvAddr(ns);
        a.setInstanceName("admin-" + System.nanoTime());
        a.start();
        return a;
    }

    private static Message message(String topic, String body, int i) {
        Message m = new Message(topic, i % 2 == 0 ? "TagA" : "TagB", "k-" + i,
            body.getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("idx", String.valueOf(i));
        m.putUserProperty("color", i % 2 == 0 ? "red" : "blue");
        return m;
    }

    // ------------------------------------------------------------------ scenarios

    /** send TOPIC MODE COUNT: MODE is sync, async, oneway or batch. */
    static boolean send(String ns, String topic, String mode, int count) throws Exception {
        DefaultMQProducer p = producer(ns, "java-send-" + mode);
        try {
            if (mode.equals("batch")) {
                List<Message> batch = new ArrayList<>();
                for (int i = 0; i < count; i++) {
                    Message m = message(topic, "java-batch-" + i, i);
                    batch.add(m);
                }
                SendResult r = p.send(batch);
                emit("event", "sent-batch", "status", r.getSendStatus().name(), "msgIds", r.getMsgId(),
                    "offsetMsgIds", r.getOffsetMsgId(), "queueId", r.getMessageQueue().getQueueId(),
                    "queueOffset", r.getQueueOffset());
                return true;
            }
            CountDownLatch acks = new CountDownLatch(count);
            for (int i = 0; i < count; i++) {
                Message m = message(topic, "java-" + mode + "-" + i, i);
                if (mode.equals("sync")) {
                    emitSent(i, p.send(m));
                } else if (mode.equals("oneway")) {
                    p.sendOneway(m);
                    emit("event", "sent-oneway", "i", i);
                } else {
                    final int n = i;
                    p.send(m, new SendCallback() {
                        @Override public void onSuccess(SendResult r) {
                            emitSent(n, r);
                            acks.countDown();
                        }
                        @Override public void onException(Throwable e) {
                            emit("event", "send-error", "i", n, "error", String.valueOf(e));
                            acks.countDown();
                        }
                    });
                }
            }
            if (mode.equals("async") && !acks.await(30, TimeUnit.SECONDS)) {
                return timeout("async acks");
            }
            return true;
        } finally {
            p.shutdown();
        }
    }

    /** consume TOPIC GROUP TYPE EXPRESSION EXPECT TIMEOUT_S: push consumer, TYPE TAG or SQL92. */
    static boolean consume(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int expect = Integer.parseInt(a[4]);
        int timeoutS = Integer.parseInt(a[5]);
        DefaultMQPushConsumer c = pushConsumer(ns, group, group + "-1");
        if (a[2].equals("SQL92")) {
            c.subscribe(topic, MessageSelector.bySql(a[3]));
        } else {
            c.subscribe(topic, a[3]);
        }
        CountDownLatch got = new CountDownLatch(expect);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                emitMessage("msg", m);
                got.countDown();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        try {
            if (!got.await(timeoutS, TimeUnit.SECONDS)) {
                return timeout("consume " + got.getCount() + " missing");
            }
            Thread.sleep(1500); // anything delivered twice or unwanted arrives in this grace period
            emit("event", "done");
            return true;
        } finally {
            c.shutdown();
        }
    }

    /** orderly TOPIC GROUP KEYS PER_KEY TIMEOUT_S: selector by key, MessageListenerOrderly. */
    static boolean orderly(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int keys = Integer.parseInt(a[2]);
        int perKey = Integer.parseInt(a[3]);
        int timeoutS = Integer.parseInt(a[4]);
        DefaultMQProducer p = producer(ns, group + "-producer");
        Map<String, List<Integer>> seen = new ConcurrentHashMap<>();
        Map<String, Integer> queueOf = new ConcurrentHashMap<>();
        CountDownLatch got = new CountDownLatch(keys * perKey);
        DefaultMQPushConsumer c = pushConsumer(ns, group, group + "-1");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String key = m.getKeys();
                seen.computeIfAbsent(key, k -> Collections.synchronizedList(new ArrayList<>()))
                    .add(Integer.parseInt(m.getUserProperty("seq")));
                queueOf.put(key + "@" + m.getQueueId(), m.getQueueId());
                got.countDown();
            }
            return ConsumeOrderlyStatus.SUCCESS;
        });
        try {
            for (int s = 0; s < perKey; s++) {
                for (int k = 0; k < keys; k++) {
                    Message m = new Message(topic, "Ord", "key-" + k, ("o-" + k + "-" + s).getBytes(StandardCharsets.UTF_8));
                    m.putUserProperty("seq", String.valueOf(s));
                    SendResult r = p.send(m, (mqs, msg, arg) -> mqs.get(Math.abs(arg.hashCode()) % mqs.size()), "key-" + k);
                    if (s == 0) {
                        emit("event", "sent", "key", "key-" + k, "queueId", r.getMessageQueue().getQueueId());
                    }
                }
            }
            c.start();
            if (!got.await(timeoutS, TimeUnit.SECONDS)) {
                return timeout("orderly " + got.getCount() + " missing");
            }
            for (Map.Entry<String, List<Integer>> e : seen.entrySet()) {
                emit("event", "order", "key", e.getKey(), "seq", e.getValue());
            }
            List<String> queues = new ArrayList<>(queueOf.keySet());
            Collections.sort(queues);
            emit("event", "queues", "pairs", queues);
            return true;
        } finally {
            c.shutdown();
            p.shutdown();
        }
    }

    /** broadcast TOPIC GROUP COUNT TIMEOUT_S: two BROADCASTING members each get every message. */
    static boolean broadcast(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int count = Integer.parseInt(a[2]);
        int timeoutS = Integer.parseInt(a[3]);
        DefaultMQProducer p = producer(ns, group + "-producer");
        p.send(new Message(topic, "warm", "before the members start".getBytes(StandardCharsets.UTF_8)));
        List<DefaultMQPushConsumer> members = new ArrayList<>();
        Map<String, AtomicInteger> got = new ConcurrentHashMap<>();
        CountDownLatch all = new CountDownLatch(2 * count);
        for (String name : new String[] {"m1", "m2"}) {
            DefaultMQPushConsumer c = pushConsumer(ns, group, name);
            c.setMessageModel(MessageModel.BROADCASTING);
            c.setConsumeFromWhere(org.apache.rocketmq.common.consumer.ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
            c.subscribe(topic, "*");
            got.put(name, new AtomicInteger());
            c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                got.get(name).addAndGet(msgs.size());
                for (int i = 0; i < msgs.size(); i++) {
                    all.countDown();
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            c.start();
            members.add(c);
        }
        try {
            Thread.sleep(2000); // both members have their queues and start from the end
            for (int i = 0; i < count; i++) {
                p.send(message(topic, "b-" + i, i));
            }
            boolean done = all.await(timeoutS, TimeUnit.SECONDS);
            Thread.sleep(1000);
            emit("event", "broadcast", "m1", got.get("m1").get(), "m2", got.get("m2").get());
            return done || timeout("broadcast");
        } finally {
            p.shutdown();
            for (DefaultMQPushConsumer c : members) {
                c.shutdown();
            }
        }
    }

    /**
     * delay TOPIC GROUP LEVEL TIMEOUT_S: one message with delayTimeLevel, consumed later.
     * Scenarios send before their consumer starts: a consumer of a topic that does not exist
     * yet learns its route only at the next 30 s route poll (Java client behaviour).
     */
    static boolean delay(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int level = Integer.parseInt(a[2]);
        int timeoutS = Integer.parseInt(a[3]);
        DefaultMQProducer p = producer(ns, group + "-producer");
        Message m = new Message(topic, "Delayed", "delayed-key", "late".getBytes(StandardCharsets.UTF_8));
        m.setDelayTimeLevel(level);
        long sentAt = System.currentTimeMillis();
        SendResult r = p.send(m);
        p.shutdown();
        emit("event", "sent", "status", r.getSendStatus().name(), "msgId", r.getMsgId(), "at", sentAt);
        CountDownLatch got = new CountDownLatch(1);
        DefaultMQPushConsumer c = pushConsumer(ns, group, group + "-1");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt x : msgs) {
                emitMessage("msg", x);
                got.countDown();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        try {
            return got.await(timeoutS, TimeUnit.SECONDS) || timeout("delayed message");
        } finally {
            c.shutdown();
        }
    }

    /** transaction TOPIC GROUP TIMEOUT_S: commit, rollback, and unknown-then-checked-commit. */
    static boolean transaction(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int timeoutS = Integer.parseInt(a[2]);
        AtomicInteger checks = new AtomicInteger();
        TransactionMQProducer p = new TransactionMQProducer(group + "-tx");
        p.setNamesrvAddr(ns);
        p.setInstanceName(group + "-tx-" + System.nanoTime());
        p.setTransactionListener(new TransactionListener() {
            @Override public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                String body = new String(msg.getBody(), StandardCharsets.UTF_8);
                switch (body) {
                    case "commit": return LocalTransactionState.COMMIT_MESSAGE;
                    case "rollback": return LocalTransactionState.ROLLBACK_MESSAGE;
                    default: return LocalTransactionState.UNKNOW;
                }
            }
            @Override public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                checks.incrementAndGet();
                emit("event", "check", "body", new String(msg.getBody(), StandardCharsets.UTF_8),
                    "transactionId", msg.getTransactionId());
                return LocalTransactionState.COMMIT_MESSAGE;
            }
        });
        p.start();
        for (String body : new String[] {"commit", "rollback", "unknown"}) {
            TransactionSendResult r = p.sendMessageInTransaction(
                new Message(topic, "Tx", "tx-" + body, body.getBytes(StandardCharsets.UTF_8)), null);
            emit("event", "sent", "body", body, "status", r.getSendStatus().name(),
                "localState", r.getLocalTransactionState().name(), "transactionId", r.getTransactionId());
        }
        CountDownLatch got = new CountDownLatch(2);
        DefaultMQPushConsumer c = pushConsumer(ns, group, group + "-1");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                emitMessage("msg", m);
                got.countDown();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        try {
            boolean done = got.await(timeoutS, TimeUnit.SECONDS);
            Thread.sleep(2000); // a rolled-back message must still not arrive
            emit("event", "done", "checks", checks.get());
            return done || timeout("transactional messages");
        } finally {
            c.shutdown();
            p.shutdown();
        }
    }

    /** dlq TOPIC GROUP COUNT TIMEOUT_S: always RECONSUME_LATER, maxReconsumeTimes 2, then DLQ. */
    static boolean dlq(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int count = Integer.parseInt(a[2]);
        int timeoutS = Integer.parseInt(a[3]);
        Map<String, List<Integer>> deliveries = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = pushConsumer(ns, group, group + "-1");
        c.setMaxReconsumeTimes(2);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                deliveries.computeIfAbsent(new String(m.getBody(), StandardCharsets.UTF_8),
                    k -> Collections.synchronizedList(new ArrayList<>())).add(m.getReconsumeTimes());
            }
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        });
        DefaultMQProducer p = producer(ns, group + "-producer");
        for (int i = 0; i < count; i++) {
            p.send(message(topic, "dlq-" + i, i));
        }
        c.start();
        DefaultMQAdminExt admin = adminExt(ns);
        try {
            long deadline = System.currentTimeMillis() + timeoutS * 1000L;
            long inDlq = 0;
            while (System.currentTimeMillis() < deadline) {
                inDlq = 0;
                try {
                    TopicStatsTable stats = admin.examineTopicStats("%DLQ%" + group);
                    for (TopicOffset o : stats.getOffsetTable().values()) {
                        inDlq += o.getMaxOffset() - o.getMinOffset();
                    }
                } catch (Exception e) {
                    // the DLQ topic does not exist until the first message is sent there
                }
                if (inDlq >= count) {
                    break;
                }
                Thread.sleep(200);
            }
            Thread.sleep(1000);
            for (Map.Entry<String, List<Integer>> e : deliveries.entrySet()) {
                emit("event", "deliveries", "body", e.getKey(), "reconsumeTimes", e.getValue());
            }
            emit("event", "dlq", "count", inDlq);
            return inDlq >= count || timeout("dlq");
        } finally {
            admin.shutdown();
            p.shutdown();
            c.shutdown();
        }
    }

    /** query TOPIC COUNT: send COUNT keyed messages, then query by key and view by msgId. */
    static boolean query(String ns, String[] a) throws Exception {
        String topic = a[0];
        int count = Integer.parseInt(a[1]);
        DefaultMQProducer p = producer(ns, "java-query");
        DefaultMQAdminExt admin = adminExt(ns);
        try {
            List<SendResult> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                Message m = new Message(topic, "Q", "qkey-" + i + " shared-" + topic, ("q-" + i).getBytes(StandardCharsets.UTF_8));
                sent.add(p.send(m));
            }
            long deadline = System.currentTimeMillis() + 10000;
            while (System.currentTimeMillis() < deadline) {
                QueryResult q = admin.queryMessage(topic, "shared-" + topic, 64, 0, Long.MAX_VALUE);
                if (q.getMessageList().size() >= count) {
                    break;
                }
                Thread.sleep(200);
            }
            QueryResult shared = admin.queryMessage(topic, "shared-" + topic, 64, 0, Long.MAX_VALUE);
            List<String> bodies = new ArrayList<>();
            for (MessageExt m : shared.getMessageList()) {
                bodies.add(new String(m.getBody(), StandardCharsets.UTF_8));
            }
            emit("event", "by-key", "key", "shared-" + topic, "bodies", bodies);
            QueryResult one = admin.queryMessage(topic, "qkey-1", 64, 0, Long.MAX_VALUE);
            List<String> oneBodies = new ArrayList<>();
            for (MessageExt m : one.getMessageList()) {
                oneBodies.add(new String(m.getBody(), StandardCharsets.UTF_8));
            }
            emit("event", "by-key", "key", "qkey-1", "bodies", oneBodies);
            MessageExt byUniq = admin.viewMessage(topic, sent.get(0).getMsgId());
            emit("event", "by-msgid", "msgId", sent.get(0).getMsgId(),
                "body", new String(byUniq.getBody(), StandardCharsets.UTF_8));
            MessageExt byOffset = admin.viewMessage(sent.get(1).getOffsetMsgId());
            emit("event", "by-offset-msgid", "offsetMsgId", sent.get(1).getOffsetMsgId(),
                "body", new String(byOffset.getBody(), StandardCharsets.UTF_8),
                "storeHost", String.valueOf(byOffset.getStoreHost()), "commitLogOffset", byOffset.getCommitLogOffset());
            return true;
        } finally {
            admin.shutdown();
            p.shutdown();
        }
    }

    /** litepull TOPIC GROUP EXPECT TIMEOUT_S: DefaultLitePullConsumer subscribe + poll + commit. */
    static boolean litePull(String ns, String[] a) throws Exception {
        String topic = a[0];
        String group = a[1];
        int expect = Integer.parseInt(a[2]);
        int timeoutS = Integer.parseInt(a[3]);
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(group);
        c.setNamesrvAddr(ns);
        c.setInstanceName(group + "-1");
        c.setAutoCommit(false);
        c.setConsumeFromWhere(org.apache.rocketmq.common.consumer.ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.start();
        try {
            long deadline = System.currentTimeMillis() + timeoutS * 1000L;
            int got = 0;
            while (got < expect && System.currentTimeMillis() < deadline) {
                for (MessageExt m : c.poll(500)) {
                    emitMessage("msg", m);
                    got++;
                }
            }
            c.commitSync();
            Thread.sleep(500);
            emit("event", "done", "got", got);
            return got >= expect || timeout("lite pull");
        } finally {
            c.shutdown();
        }
    }

    /** admin CLUSTER TOPIC: create a topic, read its route and stats, the cluster, the topic list. */
    static boolean admin(String ns, String[] a) throws Exception {
        String cluster = a[0];
        String topic = a[1];
        DefaultMQAdminExt admin = adminExt(ns);
        try {
            ClusterInfo info = admin.examineBrokerClusterInfo();
            Map<String, Object> brokers = new HashMap<>();
            for (Map.Entry<String, BrokerData> e : info.getBrokerAddrTable().entrySet()) {
                Map<String, String> addrs = new HashMap<>(); // JSON keys must be strings
                e.getValue().getBrokerAddrs().forEach((id, addr) -> addrs.put(String.valueOf(id), addr));
                brokers.put(e.getKey(), addrs);
            }
            emit("event", "cluster", "clusters", info.getClusterAddrTable(), "brokers", brokers);
            String master = info.getBrokerAddrTable().values().iterator().next().getBrokerAddrs().get(0L);
            TopicConfig config = new TopicConfig(topic, 3, 5, 6);
            admin.createAndUpdateTopicConfig(master, config);
            TopicRouteData route = null;
            long deadline = System.currentTimeMillis() + 10000;
            while (System.currentTimeMillis() < deadline) {
                try {
                    route = admin.examineTopicRouteInfo(topic);
                    break;
                } catch (Exception e) {
                    Thread.sleep(200); // registered with the NameServer on the next heartbeat
                }
            }
            if (route == null) {
                return timeout("route of the created topic");
            }
            List<Map<String, Object>> queues = new ArrayList<>();
            for (QueueData q : route.getQueueDatas()) {
                queues.add(Map.of("brokerName", q.getBrokerName(), "read", q.getReadQueueNums(),
                    "write", q.getWriteQueueNums(), "perm", q.getPerm()));
            }
            emit("event", "route", "queues", queues, "brokers", route.getBrokerDatas().size());
            DefaultMQProducer p = producer(ns, "java-admin");
            for (int i = 0; i < 9; i++) {
                p.send(new Message(topic, ("a-" + i).getBytes(StandardCharsets.UTF_8)),
                    (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size()), i);
            }
            p.shutdown();
            TopicStatsTable stats = admin.examineTopicStats(topic);
            List<Map<String, Object>> offsets = new ArrayList<>();
            for (Map.Entry<MessageQueue, TopicOffset> e : stats.getOffsetTable().entrySet()) {
                offsets.add(Map.of("queueId", e.getKey().getQueueId(), "min", e.getValue().getMinOffset(),
                    "max", e.getValue().getMaxOffset()));
            }
            emit("event", "stats", "offsets", offsets);
            TopicList list = admin.fetchAllTopicList();
            emit("event", "topics", "hasTopic", list.getTopicList().contains(topic));
            return true;
        } finally {
            admin.shutdown();
        }
    }

    /**
     * failover TOPIC COUNT TIMEOUT_S: COUNT sends, one at a time, no client retries, routes
     * polled every second (the default is 30 s); every acknowledgement and every failure is
     * printed, so the caller can kill the master meanwhile and see where sends went on.
     */
    static boolean failover(String ns, String[] a) throws Exception {
        String topic = a[0];
        int count = Integer.parseInt(a[1]);
        long deadline = System.currentTimeMillis() + Integer.parseInt(a[2]) * 1000L;
        DefaultMQProducer p = new DefaultMQProducer("java-failover");
        p.setNamesrvAddr(ns);
        p.setInstanceName("java-failover-" + System.nanoTime());
        p.setPollNameServerInterval(1000);
        p.setRetryTimesWhenSendFailed(0);
        p.setSendMsgTimeout(2000);
        p.start();
        try {
            for (int i = 0; i < count && System.currentTimeMillis() < deadline; i++) {
                String body = "j-" + i;
                try {
                    SendResult r = p.send(new Message(topic, body.getBytes(StandardCharsets.UTF_8)));
                    emit("event", "ack", "body", body, "status", r.getSendStatus().name(),
                        "queueId", r.getMessageQueue().getQueueId(), "queueOffset", r.getQueueOffset(),
                        "offsetMsgId", r.getOffsetMsgId());
                } catch (Exception e) {
                    emit("event", "send-error", "body", body, "error", e.getClass().getSimpleName());
                    Thread.sleep(50);
                }
            }
            emit("event", "done");
            return true;
        } finally {
            p.shutdown();
        }
    }

    /** progress GROUP: the consumer progress of a group (mqadmin consumerProgress). */
    static boolean progress(String ns, String[] a) throws Exception {
        DefaultMQAdminExt admin = adminExt(ns);
        try {
            ConsumeStats stats = admin.examineConsumeStats(a[0]);
            List<Map<String, Object>> rows = new ArrayList<>();
            for (Map.Entry<MessageQueue, OffsetWrapper> e : stats.getOffsetTable().entrySet()) {
                rows.add(Map.of("topic", e.getKey().getTopic(), "queueId", e.getKey().getQueueId(),
                    "brokerOffset", e.getValue().getBrokerOffset(),
                    "consumerOffset", e.getValue().getConsumerOffset()));
            }
            emit("event", "progress", "rows", rows, "diff", stats.computeTotalDiff());
            return true;
        } finally {
            admin.shutdown();
        }
    }
}
