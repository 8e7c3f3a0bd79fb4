/**
 * The int8 scan's inner loop as a tiny WebAssembly SIMD function (hand-assembled below; no
 * toolchain needed): for each listed row, the int32 dot product of its int8 codes with an int16
 * query, 16 dimensions per step (sign-extend the codes to i16x8, then i32x4.dot_i16x8_s). Plain
 * JavaScript does the same work 5–10× slower (V8 does not vectorise it). Where WebAssembly SIMD is
 * missing, or the self-test below disagrees with JavaScript, the copy scans in JavaScript instead.
 *
 * scan(rowsPtr, n, stride, queryPtr, codesPtr, outPtr):
 *   for i < n: out[i] = Σ_{d < stride} codes[codesPtr + rows[i] · stride + d] · query[d]
 * with rows and out int32 arrays, query an int16 array, all byte offsets into the exported memory;
 * stride (the row length in bytes) is a multiple of 16, rows padded with zero codes.
 */

/** The few WebAssembly APIs used here (the project's TypeScript lib has no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

export interface ScanKernel {
  memory: WasmMemory;
  scan(rowsPtr: number, n: number, stride: number, queryPtr: number, codesPtr: number, outPtr: number): void;
}

const I32 = 0x7f;
const V128 = 0x7b;
const simd = (op: number) => (op < 0x80 ? [0xfd, op] : [0xfd, (op & 0x7f) | 0x80, op >> 7]);
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const i32const = (v: number) => [0x41, v]; // small non-negative values only (one-byte SLEB128)
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_SHL = 0x74;
const I32_LT_U = 0x49;
const I32_EQZ = 0x45;
const v128load = (offset: number) => [...simd(0x00), 0x00, offset];
const EXTEND_LOW_I8_S = simd(0x87);
const EXTEND_HIGH_I8_S = simd(0x88);
const DOT_I16 = simd(0xba);
const I32X4_ADD = simd(0xae);
const I32X4_SPLAT = simd(0x11);
const lane = (l: number) => [...simd(0x1b), l];

// Parameters 0–5 as documented; locals: 6 i, 7 base, 8 d (i32), 9 acc, 10 codes (v128).
const body = [
  0x02,
  0x03,
  I32,
  0x02,
  V128, // locals: 3 × i32, 2 × v128
  0x02,
  0x40, // block
  ...get(1),
  I32_EQZ,
  0x0d,
  0x00, // br_if 0 when n = 0
  ...i32const(0),
  ...set(6),
  0x03,
  0x40, // loop over rows
  ...get(4),
  ...get(0),
  ...get(6),
  ...i32const(2),
  I32_SHL,
  I32_ADD,
  0x28,
  0x02,
  0x00, // i32.load rows[i]
  ...get(2),
  I32_MUL,
  I32_ADD,
  ...set(7),
  ...i32const(0),
  ...I32X4_SPLAT,
  ...set(9),
  ...i32const(0),
  ...set(8),
  0x03,
  0x40, // loop over 16-dimension steps
  ...get(7),
  ...get(8),
  I32_ADD,
  ...v128load(0),
  ...set(10),
  ...get(9),
  ...get(10),
  ...EXTEND_LOW_I8_S,
  ...get(3),
  ...get(8),
  ...i32const(1),
  I32_SHL,
  I32_ADD,
  ...v128load(0),
  ...DOT_I16,
  ...I32X4_ADD,
  ...get(10),
  ...EXTEND_HIGH_I8_S,
  ...get(3),
  ...get(8),
  ...i32const(1),
  I32_SHL,
  I32_ADD,
  ...v128load(16),
  ...DOT_I16,
  ...I32X4_ADD,
  ...set(9),
  ...get(8),
  ...i32const(16),
  I32_ADD,
  ...tee(8),
  ...get(2),
  I32_LT_U,
  0x0d,
  0x00, // br_if dims loop
  0x0b,
  ...get(5),
  ...get(6),
  ...i32const(2),
  I32_SHL,
  I32_ADD,
  ...get(9),
  ...lane(0),
  ...get(9),
  ...lane(1),
  I32_ADD,
  ...get(9),
  ...lane(2),
  I32_ADD,
  ...get(9),
  ...lane(3),
  I32_ADD,
  0x36,
  0x02,
  0x00, // i32.store out[i]
  ...get(6),
  ...i32const(1),
  I32_ADD,
  ...tee(6),
  ...get(1),
  I32_LT_U,
  0x0d,
  0x00, // br_if rows loop
  0x0b,
  0x0b, // end block
  0x0b, // end function
];

const text = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const uleb = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...uleb(n >> 7)]);
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];

const MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  ...section(1, [0x01, 0x60, 0x06, I32, I32, I32, I32, I32, I32, 0x00]),
  ...section(3, [0x01, 0x00]),
  ...section(5, [0x01, 0x00, 0x01]),
  ...section(7, [0x02, ...text('memory'), 0x02, 0x00, ...text('scan'), 0x00, 0x00]),
  ...section(10, [0x01, ...uleb(body.length), ...body]),
]);

let compiled: object | null | undefined;

/** Checks the kernel against the plain loop on random data once; false disables it. */
function selfTest(kernel: ScanKernel): boolean {
  const stride = 48;
  const rows = 5;
  kernel.memory.grow(1);
  const buffer = kernel.memory.buffer;
  const codes = new Int8Array(buffer, 0, rows * stride);
  const query = new Int16Array(buffer, 1024, stride);
  const list = new Int32Array(buffer, 2048, rows);
  const out = new Int32Array(buffer, 4096, rows);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let i = 0; i < codes.length; i++) codes[i] = (next() % 255) - 127;
  for (let d = 0; d < stride; d++) query[d] = (next() % 65535) - 32767;
  for (let r = 0; r < rows; r++) list[r] = rows - 1 - r;
  kernel.scan(2048, rows, stride, 1024, 0, 4096);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < stride; d++) s += codes[list[r]! * stride + d]! * query[d]!;
    if (out[r] !== s) return false;
  }
  return true;
}

/** A kernel with its own memory, or undefined where WebAssembly SIMD is unavailable. */
export function createScanKernel(): ScanKernel | undefined {
  if (compiled === undefined) {
    try {
      compiled = wasm?.validate(MODULE) ? new wasm.Module(MODULE) : null;
      if (compiled && !selfTest(instantiate(compiled))) compiled = null;
    } catch {
      compiled = null;
    }
  }
  return compiled ? instantiate(compiled) : undefined;
}

function instantiate(module: object): ScanKernel {
  const instance = new wasm!.Instance(module, {});
  const exports = instance.exports as { memory: WasmMemory; scan: ScanKernel['scan'] };
  return { memory: exports.memory, scan: exports.scan };
}
