/**
 * Containers carry ISO 639-2 codes ("eng"); HLS LANGUAGE and DASH @lang want
 * BCP 47, which prefers the ISO 639-1 code where one exists ("en").
 */
const ISO639_2_TO_1: Record<string, string> = {
  eng: 'en', fre: 'fr', fra: 'fr', ger: 'de', deu: 'de', spa: 'es', ita: 'it', por: 'pt', rus: 'ru',
  jpn: 'ja', chi: 'zh', zho: 'zh', kor: 'ko', ara: 'ar', hin: 'hi', dut: 'nl', nld: 'nl', swe: 'sv',
  nor: 'no', dan: 'da', fin: 'fi', pol: 'pl', tur: 'tr', gre: 'el', ell: 'el', heb: 'he', cze: 'cs',
  ces: 'cs', hun: 'hu', rum: 'ro', ron: 'ro', tha: 'th', vie: 'vi', ukr: 'uk', ind: 'id', may: 'ms',
  msa: 'ms', per: 'fa', fas: 'fa', cat: 'ca', hrv: 'hr', srp: 'sr', slo: 'sk', slk: 'sk', bul: 'bg',
};

export function languageTag(code: string): string {
  const lower = code.toLowerCase();
  return ISO639_2_TO_1[lower] ?? lower;
}
