// The SDK in Node: everything in index.ts, plus storage in a file.
export * from './index.ts'
export { FileStorage } from './node-storage.ts'
