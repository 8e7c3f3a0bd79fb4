/**
 * pdf.js's font renderer calls ArrayBuffer.prototype.transferToFixedLength, which Node gained in
 * version 21; on Node 20 every page with text would render blank (glyphs fail silently). This
 * supplies it with the same contract: a buffer of the requested length holding the old bytes,
 * the old buffer detached. Nothing is changed where the method already exists.
 */
type TransferringBuffer = ArrayBuffer & { transferToFixedLength?: (length?: number) => ArrayBuffer };

if (!(ArrayBuffer.prototype as TransferringBuffer).transferToFixedLength) {
  Object.defineProperty(ArrayBuffer.prototype, 'transferToFixedLength', {
    configurable: true,
    writable: true,
    value(this: ArrayBuffer, length: number = this.byteLength): ArrayBuffer {
      const moved = structuredClone(this, { transfer: [this] });
      if (length === moved.byteLength) return moved;
      const resized = new ArrayBuffer(length);
      new Uint8Array(resized).set(new Uint8Array(moved, 0, Math.min(length, moved.byteLength)));
      return resized;
    },
  });
}
