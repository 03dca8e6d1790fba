// The chat scenarios' harness (bench/chat.ts, bench/reconnect-storm.ts) at a tiny size on the
// embedded profile: real members post through the broker and every subscriber's delivery of
// every measured post is counted and timed; a small reconnect storm brings every watcher back
// with every post made while it was away.
import t from 'tap'
import { chatScenario, chatTable } from '../../bench/chat.ts'
import { reconnectStorm, stormTable } from '../../bench/reconnect-storm.ts'

t.test('chat: 20 measured posts into a channel with 3 subscribers, every delivery counted and timed', async (t) => {
  const run = await chatScenario('chat', {
    profiles: ['embedded'], rates: [40], subscribers: [3], posters: 2,
    warmMs: 100, measureMs: 500, maxDeliveries: 1_000_000, stopAtFirstFailure: false, retryTailFailures: false,
  }, (line) => t.comment(line))
  t.equal(run.steps.length, 1)
  const s = run.steps[0]!
  t.comment(chatTable(run.steps))
  // 20 on schedule; fewer when a busy machine delays the generator's ticks past the window.
  t.ok(s.posts >= 12 && s.posts <= 22, `about 20 posts in the 0.5 s window at 40/s (${s.posts})`)
  t.equal(s.responses, s.posts, 'every measured post got its POST_MESSAGE_RESPONSE')
  t.equal(s.expected, s.posts * 3, 'each post is due to each of the 3 subscribers')
  t.equal(s.delivered, s.expected, 'every PUBLISH_DELTA of a measured post arrived at every subscriber')
  t.ok(s.deliveredQos[1] >= s.delivered && s.deliveredQos[0] === 0, 'a server of 6 members gets its deltas at QoS 1')
  t.ok(s.publishP50 > 0 && s.publishP99 >= s.publishP50 && s.publishMax >= s.publishP99 && s.publishMax < 10_000, `POST → PUBLISH latencies read from the stamps (${s.publishP50} / ${s.publishP99} / ${s.publishMax} ms)`)
  t.ok(s.postP50 > 0 && s.postP99 >= s.postP50 && s.postMax < 10_000, `POST → POST_MESSAGE_RESPONSE latencies (${s.postP50} / ${s.postP99} ms)`)
  t.same(s.errors, {}, 'no errors')
  t.equal(s.unackedAfterDrain, 0, 'every request was acknowledged')
  t.ok((s.usage.cpuPercent['chime'] ?? -1) >= 0 && (s.usage.peakRssMiB['chime'] ?? 0) > 0, 'the Chime process\'s CPU and RSS are read')
  t.ok(run.machine.cores > 0 && run.machine.loadAverage.length === 3)
})

t.test('reconnect storm: 20 watchers dropped at once come back with all 15 posts made while away', async (t) => {
  const run = await reconnectStorm({ profiles: ['embedded'], clients: 20, away: 15 }, (line) => t.comment(line))
  const r = run.results[0]!
  t.comment(stormTable(run.results))
  t.equal(r.connected, 20, 'every watcher reconnected')
  t.equal(r.complete, 20, 'every watcher finished SYNC holding every seq up to the last post')
  t.equal(r.missing, 0)
  t.equal(r.syncDeltas, 20 * 15, 'each SYNC answer held exactly the 15 posts made while away')
  t.ok(r.allConnackMs !== null && r.allSyncedMs !== null && r.allSyncedMs >= r.allConnackMs, `timed (${r.allConnackMs} ms, ${r.allSyncedMs} ms)`)
  t.same(r.errors, {})
})
