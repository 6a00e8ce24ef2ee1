/**
 * This machine's ffmpeg's own option tables (`ffmpeg -h encoder=…`,
 * `-h filter=…`, `-h full`, `-pix_fmts`), and a check of an option's value
 * against its entry that follows libavutil's parsing (opt.c), except that an
 * integer option must get an integer or one of its named constants: ffmpeg
 * would round "4.1" to 4 without a word.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface OptionSpec {
  name: string;
  /** int, int64, uint64, boolean, float, double, string, flags, pix_fmt, dictionary, duration, … */
  type: string;
  /** The AVOption flags column, e.g. "E..V......." (E: encoding, D: decoding, F: filtering, V: video). */
  flags: string;
  min?: number;
  max?: number;
  /** Named constants and their values (flags constants have none). */
  constants: Map<string, number | undefined>;
}

export type OptionTable = Map<string, OptionSpec>;

/** ffmpeg's help text for a topic, e.g. `encoder=h264_nvenc`, `filter=scale`, `full`. */
export async function ffmpegHelp(topic: string): Promise<string> {
  const { stdout } = await exec('ffmpeg', ['-hide_banner', '-h', topic], { maxBuffer: 1 << 26 });
  return stdout;
}

const LIMITS: Record<string, number> = {
  INT_MIN: -(2 ** 31), INT_MAX: 2 ** 31 - 1, UINT32_MAX: 2 ** 32 - 1,
  I64_MIN: -(2 ** 63), I64_MAX: 2 ** 63 - 1, FLT_MAX: 3.4028234663852886e38, DBL_MAX: Number.MAX_VALUE,
};
const limit = (text: string) => (text.startsWith('-') && text.slice(1) in LIMITS ? -LIMITS[text.slice(1)]! : (LIMITS[text] ?? Number(text)));

/**
 * The options of the "<title> AVOptions:" sections of a help text (all of
 * them, or only the one whose title is given). Encoder options are written
 * "  -name <type> …", filter options "   name <type> …", constants below
 * their option, indented further.
 */
export function parseOptionTable(help: string, sectionTitle?: string): OptionTable {
  const table: OptionTable = new Map();
  let inSection = false;
  let current: OptionSpec | undefined;
  for (const line of help.split('\n')) {
    const header = /^(.*) AVOptions:$/.exec(line);
    if (header) {
      inSection = sectionTitle === undefined || header[1] === sectionTitle;
      current = undefined;
      continue;
    }
    if (!inSection) continue;
    const option = /^ {2,3}-?(\S+)\s+<(\w+)>\s+(\S{11})(.*)$/.exec(line);
    if (option) {
      const range = /\(from (\S+) to (\S+)\)/.exec(option[4]!);
      current = { name: option[1]!, type: option[2]!, flags: option[3]!, constants: new Map(), ...(range ? { min: limit(range[1]!), max: limit(range[2]!) } : {}) };
      // The first entry of a name wins, as in av_opt_find.
      if (!table.has(current.name)) table.set(current.name, current);
      continue;
    }
    const constant = /^ {5}(\S+)\s+(-?\d+\s+)?([.A-Z]{11})/.exec(line);
    if (constant && current) current.constants.set(constant[1]!, constant[2] === undefined ? undefined : Number(constant[2]));
  }
  return table;
}

/** A number as av_strtod reads it, with an optional SI prefix (k, M, G; "i" for powers of two). */
function siNumber(text: string): number | undefined {
  const m = /^(-?\d+(?:\.\d+)?)([kKMG]i?)?$/.exec(text);
  if (!m) return undefined;
  const prefix = m[2] ?? '';
  const power = { '': 0, k: 1, K: 1, M: 2, G: 3 }[prefix.replace('i', '') as '' | 'k' | 'K' | 'M' | 'G'];
  return Number(m[1]) * (prefix.endsWith('i') ? 1024 : 1000) ** power;
}

/** The integer an int/int64/boolean option gets from a value, or a reason it gets none (or not exactly that). */
export function integerValue(spec: OptionSpec, value: string): number | string {
  if (spec.constants.has(value)) return spec.constants.get(value) ?? `constant ${value} of -${spec.name} has no value`;
  if (spec.type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true' ? 1 : 0;
  const n = siNumber(value);
  if (n === undefined) return `-${spec.name} ${value}: neither a number nor one of ${[...spec.constants.keys()].join(', ') || 'no constants'}`;
  if (!Number.isInteger(n)) return `-${spec.name} ${value}: ${spec.type} would be rounded to ${Math.round(n)}`;
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) return `-${spec.name} ${value}: outside ${spec.min}…${spec.max}`;
  return n;
}

/** Why a value is not one this option takes exactly, or undefined when it is. */
export function valueProblem(spec: OptionSpec, value: string, pixelFormats: Set<string>): string | undefined {
  switch (spec.type) {
    case 'int':
    case 'int64':
    case 'uint64':
    case 'boolean': {
      const n = integerValue(spec, value);
      return typeof n === 'string' ? n : undefined;
    }
    case 'float':
    case 'double': {
      const n = siNumber(value);
      if (n === undefined) return `-${spec.name} ${value}: not a number`;
      return (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max) ? `-${spec.name} ${value}: outside ${spec.min}…${spec.max}` : undefined;
    }
    case 'flags':
      for (const flag of value.split(/[+-]/).filter(Boolean)) if (!spec.constants.has(flag)) return `-${spec.name}: no flag "${flag}"`;
      return undefined;
    case 'pix_fmt':
      return pixelFormats.has(value) ? undefined : `-${spec.name} ${value}: no such pixel format`;
    case 'dictionary':
      return value.split(':').every((pair) => /^[\w-]+=[^=]*$/.test(pair)) ? undefined : `-${spec.name} ${value}: not key=value pairs`;
    case 'string':
      return undefined;
    default:
      return `-${spec.name}: type ${spec.type} is not checked here`;
  }
}

/** Pixel format names this ffmpeg knows (`ffmpeg -pix_fmts`). */
export async function pixelFormats(): Promise<Set<string>> {
  const { stdout } = await exec('ffmpeg', ['-hide_banner', '-pix_fmts']);
  return new Set([...stdout.matchAll(/^[I.][O.][H.][P.][B.] (\S+)/gm)].map((m) => m[1]!));
}

/** One filter of a chain: its name and options, positional ones named (only the first option may be positional). */
export interface FilterUse {
  name: string;
  options: [string, string][];
  /** A positional option after the first: its meaning would hang on aliases the table does not show. */
  ambiguous: boolean;
}

/** Splits a simple filter chain ("a=x=1:y=2,b,c=3") into filters and options, naming a leading positional value after the filter's first option. */
export function parseChain(chain: string, tables: Map<string, OptionTable | undefined>): FilterUse[] {
  return chain.split(',').map((part) => {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const args = eq < 0 ? [] : part.slice(eq + 1).split(':');
    const first = [...(tables.get(name)?.values() ?? [])][0]?.name ?? '?';
    let ambiguous = false;
    const options = args.map((arg, i): [string, string] => {
      const k = arg.indexOf('=');
      if (k >= 0) return [arg.slice(0, k), arg.slice(k + 1)];
      if (i > 0) ambiguous = true;
      return [first, arg];
    });
    return { name, options, ambiguous };
  });
}

export interface FfmpegRun {
  code: number;
  stderr: string;
}

/** Runs ffmpeg and returns its exit code and log, failing or not. */
export async function runFfmpeg(args: string[]): Promise<FfmpegRun> {
  try {
    const { stderr } = await exec('ffmpeg', ['-hide_banner', '-nostdin', ...args], { maxBuffer: 1 << 24, timeout: 60_000 });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stderr: e.stderr ?? '' };
  }
}
