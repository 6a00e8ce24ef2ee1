import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * A wrapper around the real ffmpeg that misbehaves only for sources named for
 * a fault: *hang-me* never progresses, *crash-me* dies of SIGSEGV, *kill-me*
 * of SIGKILL, *corrupt-me* writes half its output, and *flaky-* crashes only
 * while the file `crash-flaky` exists beside the script. Encodes read the
 * source through an open descriptor (/proc/<pid>/fd/<n>): the file's name is
 * where that leads.
 */
const script = (dir: string) => `#!/bin/sh
input=""; previous=""
for arg; do [ "$previous" = "-i" ] && input="\${arg#file:}"; previous="$arg"; done
source=$(readlink -f "$input" 2>/dev/null || echo "$input")
case "$source" in
  *hang-me*) exec sleep 600 ;;
  *crash-me*) kill -SEGV $$ ;;
  *kill-me*) kill -9 $$ ;;
  *flaky-*) [ -e "${dir}/crash-flaky" ] && kill -SEGV $$ ;;
esac
ffmpeg "$@" || exit $?
case "$source" in
  *corrupt-me*)
    for out; do :; done
    case "$out" in *.ts) size=$(stat -c %s "$out"); truncate -s $((size / 2)) "$out" ;; esac ;;
esac
`;

/** Writes the fake into a new directory; `dir` is where `crash-flaky` goes. */
export async function writeFakeFfmpeg(prefix: string): Promise<{ dir: string; ffmpeg: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const ffmpeg = path.join(dir, 'ffmpeg');
  await writeFile(ffmpeg, script(dir));
  await chmod(ffmpeg, 0o755);
  return { dir, ffmpeg };
}
