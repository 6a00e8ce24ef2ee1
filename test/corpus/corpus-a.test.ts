import { CORPUS } from '../support/corpus.js';
import { corpusSuite } from '../support/corpus-suite.js';

// The corpus runs as two files so vitest can stream both halves at once.
corpusSuite(CORPUS.slice(0, Math.ceil(CORPUS.length / 2)));
