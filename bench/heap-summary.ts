// What grew in a V8 heap between two snapshots of the same process (.heapsnapshot files, as
// v8.writeHeapSnapshot writes them): objects that exist in the second and not in the first
// (snapshot object ids are stable within a process), grouped by kind and constructor and by
// what holds them, per unit (per connection for the idle scenario). Used by
// `npm run bench -- mqtt --only idle --heap-snapshot`; run alone:
//   npx tsx bench/heap-summary.ts before.heapsnapshot after.heapsnapshot [units] [top]
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

export interface HeapGrowthRow {
  /** Kind and name, e.g. `object:Client`, `closure:deliverQoS0`, `string`. */
  what: string
  /** The property (or element) it is reached through first, and the kind and name of its holder. */
  heldBy: string
  count: number
  bytes: number
  bytesPerUnit: number
}

/** Names the owner of objects by the kind:name of the first of their holders that matches a prefix. */
export type Owners = ReadonlyArray<readonly [prefix: string, owner: string]>

export interface HeapGrowth {
  units: number
  /** Bytes per unit by owner (Owners; `(WeakMap value)` for values of weak maps, `other` for the rest). */
  byOwner?: Record<string, number>
  /** Self size of every object new in the second snapshot, bytes per unit. */
  bytesPerUnit: number
  /** Of which native (off the V8 heap, e.g. socket handles, ArrayBuffer contents). */
  nativeBytesPerUnit: number
  rows: HeapGrowthRow[]
}

/** Owners of what an MQTT connection holds in Chime's broker (the idle scenario). */
export const CONNECTION_OWNERS: Owners = [
  ['object:Parser', 'mqtt-packet parser'],
  ['object:BufferListStream', 'mqtt-packet parser'],
  ['object:Client', 'aedes Client'],
  ['object:Socket', 'Node socket'],
  ['object:TCP', 'Node socket'],
  ['synthetic:Node / TCPSocketWrap', 'Node socket'],
]

async function load(file: string): Promise<Snapshot> {
  return JSON.parse(await readFile(file, 'utf8')) as Snapshot
}

/** Objects of `after` absent from `before`, grouped by (kind:name, first holder), largest first. */
export async function heapGrowth(beforeFile: string, afterFile: string, units: number, top = 40, owners: Owners = []): Promise<HeapGrowth> {
  const ids = new Set<number>()
  {
    const b = await load(beforeFile)
    const f = b.snapshot.meta.node_fields
    const idAt = f.indexOf('id')
    for (let i = 0; i < b.nodes.length; i += f.length) ids.add(b.nodes[i + idAt]!)
  }
  const s = await load(afterFile)
  const { node_fields: nf, edge_fields: ef } = s.snapshot.meta
  const nodeTypes = s.snapshot.meta.node_types[0]
  const edgeTypes = s.snapshot.meta.edge_types[0]
  const [nfl, efl] = [nf.length, ef.length]
  const [iType, iName, iSize, iEdges, iId] = ['type', 'name', 'self_size', 'edge_count', 'id'].map((k) => nf.indexOf(k)) as [number, number, number, number, number]
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((k) => ef.indexOf(k)) as [number, number, number]
  const count = s.nodes.length / nfl
  const label = (n: number): string => {
    const type = nodeTypes[s.nodes[n * nfl + iType]!]!
    if (type.includes('string')) return 'string'
    if (type === 'code' || type === 'number') return type
    return `${type}:${s.strings[s.nodes[n * nfl + iName]!]!.slice(0, 60)}`
  }
  // The first strong holder of every new object.
  const holder = new Int32Array(count).fill(-1)
  const via = new Array<string>(count)
  for (let n = 0, e = 0; n < count; n++) {
    const end = e + s.nodes[n * nfl + iEdges]! * efl
    for (; e < end; e += efl) {
      const type = edgeTypes[s.edges[e + eType]!]!
      if (type === 'weak' || type === 'shortcut') continue
      const to = s.edges[e + eTo]! / nfl
      if (holder[to] !== -1 || ids.has(s.nodes[to * nfl + iId]!)) continue
      holder[to] = n
      via[to] = type === 'element' || type === 'hidden' ? '[]' : type === 'internal' && /part of key/.test(s.strings[s.edges[e + eName]!] ?? '') ? '(WeakMap value)' : s.strings[s.edges[e + eName]!]!
    }
  }
  // The owner of a new object: itself or the nearest of its first holders (up to 16 steps)
  // whose kind:name matches an owner prefix, or that holds it as a weak map value.
  const ownerOf = (n: number): string => {
    let x = n
    for (let step = 0; step < 16 && x !== -1; step++) {
      const l = label(x)
      const hit = owners.find(([prefix]) => l.startsWith(prefix))
      if (hit !== undefined) return hit[1]
      if (via[x] === '(WeakMap value)') return '(WeakMap value)'
      x = holder[x]!
    }
    return 'other'
  }
  const byOwner: Record<string, number> = {}
  const groups = new Map<string, { what: string; heldBy: string; count: number; bytes: number }>()
  let total = 0
  let native = 0
  for (let n = 0; n < count; n++) {
    if (ids.has(s.nodes[n * nfl + iId]!)) continue
    const size = s.nodes[n * nfl + iSize]!
    const what = label(n)
    const heldBy = holder[n] === -1 ? '(root)' : `${via[n]} of ${label(holder[n]!)}`
    total += size
    if (what.startsWith('native:') || what.startsWith('synthetic:')) native += size
    if (owners.length > 0) {
      const o = ownerOf(n)
      byOwner[o] = (byOwner[o] ?? 0) + size
    }
    const key = `${what}\u0000${heldBy}`
    const g = groups.get(key) ?? { what, heldBy, count: 0, bytes: 0 }
    g.count++
    g.bytes += size
    groups.set(key, g)
  }
  const rows = [...groups.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top).map((g) => ({ ...g, bytesPerUnit: Math.round(g.bytes / units) }))
  const perUnit = Object.fromEntries(Object.entries(byOwner).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v / units)]))
  return { units, bytesPerUnit: Math.round(total / units), nativeBytesPerUnit: Math.round(native / units), ...(owners.length > 0 ? { byOwner: perUnit } : {}), rows }
}

export function printHeapGrowth(title: string, g: HeapGrowth): void {
  console.log(`\n${title}: ${g.bytesPerUnit} bytes per unit in new objects (${g.nativeBytesPerUnit} of them native), ${g.units} units`)
  if (g.byOwner !== undefined) console.log(`by owner, bytes per unit: ${Object.entries(g.byOwner).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  console.log('| bytes per unit | objects per unit | what | first held by |')
  console.log('|---|---|---|---|')
  for (const r of g.rows) console.log(`| ${r.bytesPerUnit} | ${(r.count / g.units).toFixed(2)} | ${r.what} | ${r.heldBy} |`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [before, after, units = '1', top = '40'] = process.argv.slice(2)
  if (before === undefined || after === undefined) throw new Error('usage: npx tsx bench/heap-summary.ts before.heapsnapshot after.heapsnapshot [units] [top]')
  printHeapGrowth(`${after} since ${before}`, await heapGrowth(before, after, Number(units), Number(top), CONNECTION_OWNERS))
}
