#!/usr/bin/env node
// The `chime` executable (package.json "bin"): registers tsx to load the TypeScript
// sources, then runs the command-line client. `npm link` (or `npm install -g .`) in the
// checkout puts it on the PATH.
import { register } from 'tsx/esm/api'

register()
await import('./main.ts')
