// What the raw MQTT scenarios read about a broker process from /proc (Linux): CPU time,
// resident memory, its open-files limit, and which process listens on a local TCP port.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

let ticks: number | null = null

/** Clock ticks per second of /proc/<pid>/stat times (getconf CLK_TCK; 100 almost everywhere). */
export function clockTicks(): number {
  if (ticks !== null) return ticks
  try {
    ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    ticks = 100
  }
  return ticks
}

/** User + system CPU seconds the process has used so far, or null when it cannot be read. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces and parentheses): state is field 3,
    // utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clockTicks()
  } catch {
    return null
  }
}

function statusField(pid: number, name: string): number | null {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

/** Resident set size in bytes, or null. */
export function rssBytes(pid: number): number | null {
  return statusField(pid, 'VmRSS')
}

/** The soft limit of open files of a process, or null. */
export function openFilesLimit(pid: number): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
    if (m === null) return null
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
  } catch {
    return null
  }
}

/** The hard limit of open files of a process, or null. */
export function openFilesHardLimit(pid: number): number | null {
  try {
    const m = /^Max open files\s+\S+\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
    if (m === null) return null
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
  } catch {
    return null
  }
}

/** Descriptors the process has open now, or null. */
export function openFileCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
}

/** CAP_SYS_RESOURCE, which raising a hard resource limit (RLIMIT_NOFILE) needs. */
const CAP_SYS_RESOURCE = 24

/** Whether the process may raise its hard limit of open files (CAP_SYS_RESOURCE in its effective set), or null. */
export function mayRaiseHardLimits(pid: number): boolean | null {
  try {
    const m = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : ((BigInt(`0x${m[1]}`) >> BigInt(CAP_SYS_RESOURCE)) & 1n) === 1n
  } catch {
    return null
  }
}

/** The pid of the process listening on a local TCP port, or null (no such socket, or not ours to see). */
export function pidListeningOn(port: number): number | null {
  const inodes = new Set<string>()
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      // local_address is "ADDR:PORT", st 0A is LISTEN, the inode is column 10.
      if (cols.length > 9 && cols[1]!.endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(cols[9]!)
    }
  }
  if (inodes.size === 0) return null
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`))
        if (m !== null && inodes.has(m[1]!)) return Number(entry)
      } catch {
        // the descriptor closed meanwhile
      }
    }
  }
  return null
}
