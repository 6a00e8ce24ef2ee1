import { ConfigError, loadServerConfig } from './config/config.js';
import { generateDemoClip, listMediaFiles } from './library/demo.js';
import { startServer } from './server.js';
import { mkdir } from 'node:fs/promises';

/** `npm start -- --media DIR --cache DIR --port N [--host H] [--config FILE] [--cache-size 10GB] [--redis URL] [--advertise-url URL] [--lease-ms N]` */
async function main(): Promise<void> {
  const config = await loadServerConfig(process.argv.slice(2));
  await mkdir(config.mediaDir, { recursive: true });
  let files = await listMediaFiles(config.mediaDir);
  if (files.length === 0) {
    console.log(`[jitseg] ${config.mediaDir} has no videos: generating a 30 s demo clip…`);
    files = [await generateDemoClip(config.mediaDir)];
  }
  const server = await startServer(config);
  console.log(`[jitseg] serving ${config.mediaDir} on ${server.url} (cache: ${config.cacheDir})`);
  for (const file of files.slice(0, 10)) {
    const vod = `${server.url}/vod/${file.split('/').map(encodeURIComponent).join('/')}`;
    console.log(`  ${file}\n    HLS:  ${vod}/master.m3u8\n    DASH: ${vod}/manifest.mpd`);
  }
  if (files.length > 10) console.log(`  … and ${files.length - 10} more`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    console.error(`[jitseg] invalid configuration: ${err.message}`);
  } else {
    console.error('[jitseg] failed to start:', err);
  }
  process.exit(1);
});
