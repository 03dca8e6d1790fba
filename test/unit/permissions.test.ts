// Channel permissions: role bits, then the role's override, then the user's; owners and
// admins are above overrides; a mute removes POST and nothing else. Checked exhaustively
// over every role and every combination of a few override shapes.
import t from 'tap'
import { ALL_PERMISSIONS, channelPermissions, has, PERMISSIONS as P, ROLE_PERMISSIONS, ROLES, type Override } from '../../clients/sdk/src/permissions.ts'
import { grantCovers } from '../../broker/src/access.ts'
import { topics } from '../../clients/sdk/src/topics.ts'

const shapes: { allow: number; deny: number }[] = [
  { allow: 0, deny: 0 },
  { allow: 0, deny: P.READ },
  { allow: P.READ, deny: 0 },
  { allow: P.POST, deny: P.READ },
  { allow: P.READ | P.POST, deny: ALL_PERMISSIONS },
]

t.test('every role x role override x user override x mute', async (t) => {
  let cases = 0
  for (const role of ROLES) {
    for (const r of shapes) {
      for (const u of shapes) {
        for (const muted of [false, true]) {
          const overrides: Override[] = [
            { targetType: 'role', target: role, ...r },
            { targetType: 'user', target: 'U', ...u },
            { targetType: 'user', target: 'someone-else', allow: 0, deny: ALL_PERMISSIONS },
            { targetType: 'role', target: role === 'member' ? 'moderator' : 'member', allow: 0, deny: ALL_PERMISSIONS },
          ]
          const bits = channelPermissions(role, 'U', overrides, muted)
          let expected = ROLE_PERMISSIONS[role]
          if (role !== 'owner' && role !== 'admin') {
            expected = (expected & ~r.deny) | r.allow
            expected = (expected & ~u.deny) | u.allow
          }
          if (muted) expected &= ~P.POST
          if (bits !== expected) t.fail(`${role} role=${JSON.stringify(r)} user=${JSON.stringify(u)} muted=${muted}: ${bits} != ${expected}`)
          cases++
        }
      }
    }
  }
  t.equal(cases, ROLES.length * shapes.length * shapes.length * 2)
  t.ok(has(channelPermissions('admin', 'U', [{ targetType: 'user', target: 'U', allow: 0, deny: ALL_PERMISSIONS }]), P.READ), 'an admin is above overrides')
  t.notOk(has(channelPermissions('member', 'U', [], true), P.POST), 'a muted member does not post')
  t.ok(has(channelPermissions('member', 'U', [], true), P.READ), 'but still reads')
  t.notOk(has(ROLE_PERMISSIONS.member, P.MANAGE_CHANNELS), 'members do not manage channels')
})

t.test('grantCovers: exact grants, server wildcards, and channels hidden from them', async (t) => {
  const session = { userId: 'U', username: 'u', token: '', granted: new Set([topics.serverWildcard('S'), topics.chat('C')]), hidden: new Map([['S', new Set(['SECRET'])]]) }
  t.ok(grantCovers(session, topics.serverChannel('S', 'GEN')))
  t.ok(grantCovers(session, topics.typing('S', 'GEN')))
  t.ok(grantCovers(session, topics.serverChannel('S', 'S')), "the server's own log")
  t.notOk(grantCovers(session, topics.serverChannel('S', 'SECRET')), 'a hidden channel')
  t.notOk(grantCovers(session, topics.typing('S', 'SECRET')), 'its typing too')
  t.notOk(grantCovers(session, topics.serverChannel('T', 'GEN')), 'another server')
  t.ok(grantCovers(session, topics.chat('C')))
  t.notOk(grantCovers(session, topics.chat('D')))
  t.notOk(grantCovers(session, topics.inbox('U')), 'nothing not granted')
})
