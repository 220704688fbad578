import { closeSync, openSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';

const MiB = 1024 * 1024;

/**
 * Writes a zip of exactly `zipSize` bytes holding one stored (method 0) entry `name` of random,
 * incompressible bytes, and returns the entry's size. Written by hand (no zip64: sizes < 4 GiB),
 * CRC-32 computed on the way; shared by the benches and the tests that need big archives.
 */
export function writeRandomStoredZip(path: string, zipSize: number, name = 'random.bin'): number {
  const nameBuf = Buffer.from(name);
  const overhead = 30 + nameBuf.length + 46 + nameBuf.length + 22;
  const size = zipSize - overhead;
  if (size <= 0 || zipSize >= 2 ** 32) throw new Error('bad zip size');
  const fd = openSync(path, 'w');
  try {
    const chunk = Buffer.allocUnsafe(8 * MiB);
    let crc = 0;
    let pos = 30 + nameBuf.length;
    for (let left = size; left > 0; ) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      crc = crc32(chunk.subarray(0, n), crc);
      writeSync(fd, chunk, 0, n, pos);
      pos += n;
      left -= n;
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(size, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    writeSync(fd, Buffer.concat([local, nameBuf]), 0, 30 + nameBuf.length, 0);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(size, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
    central.writeUInt32LE(0, 42); // local header offset
    const cdOffset = pos;
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(1, 8);
    eocd.writeUInt16LE(1, 10);
    eocd.writeUInt32LE(46 + nameBuf.length, 12);
    eocd.writeUInt32LE(cdOffset, 16);
    const trailer = Buffer.concat([central, nameBuf, eocd]);
    writeSync(fd, trailer, 0, trailer.length, pos);
  } finally {
    closeSync(fd);
  }
  return size;
}
