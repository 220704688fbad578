/**
 * A tiny hand-written zip writer for tests: it writes whatever headers it is told to, including the hostile ones
 * (traversal names, symlink modes, lying sizes, bogus zip64 records) that yazl refuses to produce.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';

export interface CraftEntry {
  /** Raw name; a string is written as UTF-8 with the UTF-8 flag set, a Buffer as-is with no flag. */
  name: string | Buffer;
  /** Bytes stored in the archive (already compressed when method is 8). */
  data?: Buffer;
  /** Uncompressed content; used for the default CRC and uncompressed size (defaults to `data`). */
  content?: Buffer;
  method?: number;
  crc32?: number;
  uncompressedSize?: number;
  compressedSize?: number;
  /** Extra general-purpose flag bits (0x1 encrypted, 0x40 strong encryption, ...). */
  flags?: number;
  /** Unix st_mode for the external attributes; defaults to 0o100644, or 0o40755 when the name ends in '/'. */
  mode?: number;
  /** Put the sizes and offset into a zip64 extended-information extra field. */
  zip64?: boolean;
}

export interface CraftOptions {
  /** Write a zip64 EOCD record + locator (forced when there are more than 0xffff entries). */
  zip64Eocd?: boolean;
  /** Entry count to declare instead of the real one (in the zip64 record when present, else the EOCD). */
  entryCount?: number;
  /** Central directory offset to declare instead of the real one. */
  cdOffset?: number;
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const FF32 = 0xffffffff;
const EMPTY = Buffer.alloc(0);

interface Fields {
  version: number;
  flags: number;
  method: number;
  crc: number;
  csize: number;
  usize: number;
  nameLength: number;
}
/** The run of fields shared by the local header (at +4) and the central record (at +6), version needed .. name length. */
function writeCommon(b: Buffer, at: number, f: Fields): void {
  b.writeUInt16LE(f.version, at);
  b.writeUInt16LE(f.flags, at + 2);
  b.writeUInt16LE(f.method, at + 4);
  b.writeUInt32LE(0x00210000, at + 6); // time 00:00, date 1980-01-01
  b.writeUInt32LE(f.crc >>> 0, at + 10);
  b.writeUInt32LE(f.csize, at + 14);
  b.writeUInt32LE(f.usize, at + 18);
  b.writeUInt16LE(f.nameLength, at + 22);
}

export function craftZip(entries: CraftEntry[], opts: CraftOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const data = e.data ?? EMPTY;
    const content = e.content ?? data;
    const usize = e.uncompressedSize ?? content.length;
    const csize = e.compressedSize ?? data.length;
    const isDir = name.length > 0 && name[name.length - 1] === 0x2f;
    const mode = e.mode ?? (isDir ? 0o40755 : 0o100644);
    const fields: Fields = {
      version: e.zip64 ? 45 : 20,
      flags: (e.flags ?? 0) | (typeof e.name === 'string' ? 0x800 : 0),
      method: e.method ?? 0,
      crc: e.crc32 ?? crc32(content),
      csize: e.zip64 ? FF32 : csize,
      usize: e.zip64 ? FF32 : usize,
      nameLength: name.length,
    };
    const localExtra = e.zip64 ? Buffer.concat([u16(1), u16(16), u64(usize), u64(csize)]) : EMPTY;
    const centralExtra = e.zip64 ? Buffer.concat([u16(1), u16(24), u64(usize), u64(csize), u64(offset)]) : EMPTY;

    const local = Buffer.allocUnsafe(30 + name.length + localExtra.length); // allocUnsafe is pooled: 200k entries stay fast
    local.writeUInt32LE(0x04034b50, 0);
    writeCommon(local, 4, fields);
    local.writeUInt16LE(localExtra.length, 28);
    name.copy(local, 30);
    localExtra.copy(local, 30 + name.length);
    locals.push(local, data);

    const rec = Buffer.allocUnsafe(46 + name.length + centralExtra.length).fill(0);
    rec.writeUInt32LE(0x02014b50, 0);
    rec.writeUInt16LE((3 << 8) | 45, 4); // made by Unix, so the high attribute bits are an st_mode
    writeCommon(rec, 6, fields);
    rec.writeUInt16LE(centralExtra.length, 30);
    rec.writeUInt32LE(mode * 0x10000, 38);
    rec.writeUInt32LE(e.zip64 ? FF32 : offset, 42);
    name.copy(rec, 46);
    centralExtra.copy(rec, 46 + name.length);
    central.push(rec);
    offset += local.length + data.length;
  }
  const cd = Buffer.concat(central);
  const count = opts.entryCount ?? entries.length;
  const cdOffset = opts.cdOffset ?? offset;
  const tail: Buffer[] = [];
  const zip64 = opts.zip64Eocd || entries.length > 0xffff;
  if (zip64) {
    const recordOffset = offset + cd.length;
    tail.push(
      Buffer.concat([u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(count), u64(count), u64(cd.length), u64(cdOffset)]),
    );
    tail.push(Buffer.concat([u32(0x07064b50), u32(0), u64(recordOffset), u32(1)]));
  }
  const c16 = zip64 ? 0xffff : count;
  tail.push(
    Buffer.concat([
      u32(0x06054b50),
      u16(0),
      u16(0),
      u16(c16),
      u16(c16),
      u32(zip64 ? FF32 : cd.length),
      u32(zip64 ? FF32 : cdOffset),
      u16(0),
    ]),
  );
  return Buffer.concat([...locals, cd, ...tail]);
}

/** A deflated entry for `content`. */
export function deflated(name: string, content: Buffer, extra: Partial<CraftEntry> = {}): CraftEntry {
  return { name, content, data: deflateRawSync(content), method: 8, ...extra };
}

/**
 * Raw deflate data that inflates to `mib` MiB of zeros, built in milliseconds: one 1 MiB block ending in a full
 * flush (byte-aligned, no back-references across it) is repeated, then a final empty block closes the stream.
 */
export function zerosDeflate(mib: number): Buffer {
  const unit = deflateRawSync(Buffer.alloc(1024 * 1024), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array<Buffer>(mib).fill(unit), deflateRawSync(Buffer.alloc(0))]);
}
