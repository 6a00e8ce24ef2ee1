// The independent manifest parsers (video.js' m3u8-parser and mpd-parser) ship no types.
declare module 'm3u8-parser';
declare module 'mpd-parser';
